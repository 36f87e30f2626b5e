import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InternalError } from '@dozer/core';

// Two levels up from both src/config/ and dist/config/, so the published package finds it too.
const TEMPLATE_URL = new URL('../../templates/dozer.yaml', import.meta.url);
const APP_NAME_LINE = /^app_name: .*$/m;

/**
 * The commented sample dozer.yaml that `dozer init` writes, with `app_name`
 * set to `appName` when given.
 */
export function renderInitTemplate(appName?: string): string {
  const template = readFileSync(fileURLToPath(TEMPLATE_URL), 'utf8');
  if (appName === undefined) return template;
  if (!APP_NAME_LINE.test(template)) {
    throw new InternalError(`the init template ${fileURLToPath(TEMPLATE_URL)} has no "app_name:" line`);
  }
  // A name YAML would read as something else (a number, a comment) is written quoted.
  const plain = /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(appName) && !/^(?:true|false|null)$/i.test(appName);
  const value = plain ? appName : JSON.stringify(appName);
  return template.replace(APP_NAME_LINE, () => `app_name: ${value}`);
}
