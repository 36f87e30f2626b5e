// Opens the store at argv[2], prints "open", then closes it when a line arrives on stdin
// (printing "closed") or holds it until killed.
import { openStore } from '../../src/index.js';

const store = openStore({ path: process.argv[2]! });
process.stdout.write('open\n');
process.stdin.once('data', async () => {
  await store.close();
  process.stdout.write('closed\n');
  process.exit(0);
});
