import { closeSync, fsyncSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { StorageError } from "./errors.js";

/** lockFileName is the file inside a data directory that names the process holding it. */
export const lockFileName = "synod.lock";

/** An empty lock file older than this was left by a process that died between creating and writing it. */
const emptyLockStaleMs = 10_000;

/** How many times a stale lock is taken over before giving up (another process keeps racing for it). */
const takeoverAttemptsMax = 3;

/**
 * DirLock is an exclusive claim on a data directory: a lock file created with
 * O_EXCL holding "pid\nhostname\n". LMDB itself lets several processes share an
 * environment, so this is what keeps a second server off the same directory.
 *
 * A lock file left by a process that died (SIGKILL, power loss) is stale: its
 * pid no longer runs on this host. It is taken over, by removing it and
 * creating it again with O_EXCL. Two processes starting at the same moment on
 * the same stale lock can, in a narrow window, both remove it; the one whose
 * O_EXCL create fails gives up, and the read-back below catches the rest.
 * Node has no flock(2); a pid file is what PostgreSQL does for the same job.
 */
export class DirLock {
  private released = false;

  private constructor(
    readonly path: string,
    private readonly token: string,
  ) {}

  /** acquire claims `dir` or throws a StorageError with code "locked" naming the holder. */
  static acquire(dir: string): DirLock {
    const path = join(dir, lockFileName);
    const token = `${process.pid}\n${hostname()}\n`;
    for (let attempt = 0; attempt < takeoverAttemptsMax; attempt++) {
      if (tryCreate(path, token)) {
        // Read back: a racing takeover that removed our fresh file shows here.
        if (readLock(path) !== token) break;
        return new DirLock(path, token);
      }
      const holder = readLock(path);
      if (holder === null) continue; // removed between our create and our read: try again
      if (holder === "" ? !isOlderThan(path, emptyLockStaleMs) : isHeldByLiveProcess(holder)) {
        throw new StorageError(
          "locked",
          `data directory ${dir} is in use by process ${describeHolder(holder)} (lock file ${path}); ` +
            `stop that process first, or remove the lock file if it is certainly not running`,
        );
      }
      try {
        unlinkSync(path); // stale: its process is gone
      } catch (err) {
        if (!isErrno(err, "ENOENT")) throw err;
      }
    }
    throw new StorageError("locked", `data directory ${dir}: could not take over the lock file ${path}; another process is starting`);
  }

  /** release removes the lock file if it is still ours. Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (readLock(this.path) !== this.token) return;
    try {
      unlinkSync(this.path);
    } catch (err) {
      if (!isErrno(err, "ENOENT")) throw err;
    }
  }
}

function tryCreate(path: string, token: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, "wx", 0o644);
  } catch (err) {
    if (isErrno(err, "EEXIST")) return false;
    throw err;
  }
  try {
    writeSync(fd, token);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

function readLock(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT")) return null;
    throw err;
  }
}

function isOlderThan(path: string, ageMs: number): boolean {
  try {
    return Date.now() - statSync(path).mtimeMs > ageMs;
  } catch (err) {
    if (isErrno(err, "ENOENT")) return true;
    throw err;
  }
}

function describeHolder(content: string): string {
  const [pid, host] = content.split("\n");
  return `${pid ?? "?"} on ${host ?? "?"}`;
}

/**
 * isHeldByLiveProcess says whether the lock's process still runs. A lock from
 * another host, or one that cannot be parsed, counts as held: we cannot check it,
 * so we refuse rather than risk two writers.
 */
function isHeldByLiveProcess(content: string): boolean {
  const [pidText, host] = content.split("\n");
  const pid = Number(pidText);
  if (!Number.isSafeInteger(pid) || pid <= 0 || host !== hostname()) return true;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return !isErrno(err, "ESRCH"); // EPERM: alive, owned by someone else
  }
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === code;
}
