import { closeSync, constants as fsc, fchmodSync, fsyncSync, openSync, renameSync, writeSync } from "node:fs";
import path from "node:path";

/**
 * Replaces `file` with `text` in one rename, so a reader (sshd reading authorized_keys, a shell
 * running the support wrapper) sees the old file or the new one, never half of either. The temp
 * file is created fresh (never through a link planted in its place), given `mode` before any
 * byte is written, and synced before the rename.
 */
export function writeAtomically(file: string, text: string, mode: number): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.clawkeep-${process.pid}`);
  const fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, mode);
  try {
    fchmodSync(fd, mode);
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}
