// bcrypt for keys/bcrypt-threads.ts, one task at a time, on a worker thread that asks the scheduler for less CPU
// than the event loop gets. Plain JavaScript: a worker thread starts without the TypeScript loader.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { hashSync, verifySync } from '@node-rs/bcrypt';

/** Linux schedules each thread on its own, so a niceness set on this thread's id lowers this thread alone. */
function lowerOwnPriority(niceness) {
  try {
    const threadId = Number(readlinkSync('/proc/thread-self').split('/').pop());
    setPriority(threadId, niceness);
    return threadId;
  } catch {
    return null;
  }
}

const threadId = workerData.niceness > 0 ? lowerOwnPriority(workerData.niceness) : null;
parentPort.postMessage({ ready: true, threadId });

parentPort.on('message', (task) => {
  try {
    const value = task.kind === 'verify' ? verifySync(task.secret, task.hash) : hashSync(task.secret, task.cost);
    parentPort.postMessage({ value });
  } catch (error) {
    parentPort.postMessage({ error: error instanceof Error ? error.message : String(error) });
  }
});
