// Run in a worker thread: tries to open the store at workerData, posts "opened" or the error's message.
import { parentPort, workerData } from 'node:worker_threads';
import { openStore } from '../../src/index.js';

try {
  await openStore({ path: workerData as string }).close();
  parentPort!.postMessage('opened');
} catch (e) {
  parentPort!.postMessage((e as Error).message);
}
