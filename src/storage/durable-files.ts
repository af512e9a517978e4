import { closeSync, fsyncSync, openSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";

/** fsyncPath makes a file's contents, or a directory's entries (a rename inside it), durable. */
export function fsyncPath(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * writeFileDurably writes a small file so that a crash leaves it whole or
 * absent: write a temporary copy, fsync it, rename it over the target, fsync
 * the directory.
 */
export function writeFileDurably(path: string, text: string): void {
  const part = `${path}.part`;
  const fd = openSync(part, "w");
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(part, path);
  fsyncPath(dirname(path));
}
