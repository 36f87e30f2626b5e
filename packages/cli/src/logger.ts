/** Log lines of the CLI: to stderr, with a time and a level; the status line is redrawn around them. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export function createLogger(write: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Logger {
  const stamp = () => new Date().toISOString().slice(11, 23);
  return {
    info: (m) => write(`${stamp()} INFO  ${m}`),
    warn: (m) => write(`${stamp()} WARN  ${m}`),
    error: (m) => write(`${stamp()} ERROR ${m}`),
  };
}
