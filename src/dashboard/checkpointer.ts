/**
 * A worker thread that checkpoints the store's WAL (copies committed pages into the database
 * file), so that the main thread never does it.
 *
 * Why: with automatic checkpoints, whichever COMMIT pushes the WAL past its threshold copies
 * megabytes and fsyncs them before returning: at full ingest that stalled the event loop for
 * ~100 ms every few seconds, in front of every report and query. A PASSIVE checkpoint from
 * another connection copies what no reader needs without blocking the writer (SQLite WAL
 * docs, "Checkpointing"); the main connection then reuses the WAL from its start.
 *
 * Started by `DashboardStore` with `{ path, everyMs }`; the message 'stop' ends it after a last
 * checkpoint.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { DatabaseSync } from 'node:sqlite';

const { path, everyMs } = workerData as { path: string; everyMs: number };
const db = new DatabaseSync(path);
db.exec('PRAGMA busy_timeout = 2000');

const checkpoint = (mode: 'PASSIVE' | 'TRUNCATE'): void => {
  try {
    db.exec(`PRAGMA wal_checkpoint(${mode})`);
  } catch (err) {
    parentPort?.postMessage({ error: err instanceof Error ? err.message : String(err) });
  }
};

const timer = setInterval(() => checkpoint('PASSIVE'), everyMs);
parentPort?.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  checkpoint('TRUNCATE');
  db.close();
  parentPort?.close();
});
