// bcrypt for keys/bcrypt-threads.ts, one task at a time, on a worker thread that asks the scheduler for less CPU
// than the event loop gets. Plain JavaScript: a worker thread starts without the TypeScript loader.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { hashSync, verifySync } from '@node-rs/bcrypt';

/** This thread's Linux thread id, or null off Linux. */
function ownThreadId() {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return null;
  }
}

const threadId = ownThreadId();
// Linux schedules each thread on its own, so a niceness set on this thread's id lowers this thread alone.
if (threadId !== null && workerData.niceness > 0) setPriority(threadId, workerData.niceness);
parentPort.postMessage({ ready: true, threadId });

parentPort.on('message', (task) => {
  try {
    const value = task.kind === 'verify' ? verifySync(task.secret, task.hash) : hashSync(task.secret, task.cost);
    parentPort.postMessage({ value });
  } catch (error) {
    parentPort.postMessage({ error: error instanceof Error ? error.message : String(error) });
  }
});
