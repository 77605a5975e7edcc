import { MAX_COMMAND_BYTES } from "./support-records.js";
import { WRAPPER_PATH_RE } from "./ssh-keys.js";

// The forced command of every support key (formats §24). sshd runs it, through the login shell,
// as `<wrapper> <grant id>`; it writes a record of what the operator asked for, then runs it the
// way sshd would have (`$SHELL -c "$SSH_ORIGINAL_COMMAND"`, or a login shell), then records the
// exit status. POSIX sh plus od, tr, date and mv, so it runs on any agent host without Node.
//
// The command text is read from SSH_ORIGINAL_COMMAND and only ever hex-encoded by od: it is never
// part of this script, never expanded by it, and the record holds its exact bytes. If the first
// record cannot be written the command is not run (fail closed: every support command is
// recorded). Each record is its own file, written under a hidden name and renamed into place, so
// concurrent sessions never interleave and the shipper never reads half a record.

export const WRAPPER_NAME = "wrapper";
export const RECORDS_DIR = "records";
export const REJECTED_DIR = "rejected";

export function wrapperScript(recordsDir: string): string {
  if (!WRAPPER_PATH_RE.test(recordsDir)) throw new Error("the support records directory must be absolute and made of [A-Za-z0-9._@+/-] only");
  return `#!/bin/sh
# Clawkeep support-session recorder v1. Written by \`clawkeep agent reconcile-ssh\`, which
# rewrites it on every pass; see docs/formats.md section 24.
umask 077
records='${recordsDir}'
grant=$1
case $grant in grt_????????????????????) ;; *) echo 'clawkeep: bad grant id' >&2; exit 126 ;; esac
case $grant in grt_*[!0-9a-f]*) echo 'clawkeep: bad grant id' >&2; exit 126 ;; esac
from=\${SSH_CONNECTION%% *}
case $from in *[!0-9A-Fa-f.:]*) from= ;; esac
tty=false
[ -n "\${SSH_TTY-}" ] && tty=true
shell=\${SHELL:-/bin/sh}

# record KIND EXTRA-FIELDS: one record file; sets rid to its id.
record() {
  _id=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \\n') && [ \${#_id} -eq 32 ] || return 1
  _t=$(date +%s) || return 1
  printf '{"v":1,"id":"%s","grant":"%s","kind":"%s","time":%s%s}\\n' "$_id" "$grant" "$1" "$_t" "$2" >"$records/.$_id.part" &&
    mv -f "$records/.$_id.part" "$records/$_t-$_id.json" || { rm -f "$records/.$_id.part"; return 1; }
  rid=$_id
}
refuse() {
  echo 'clawkeep: this support session cannot be recorded, so it is not run' >&2
  exit 126
}

# Caught, not ignored: the child gets the default actions back, and we live to record its end.
trap : HUP INT TERM
if [ -z "\${SSH_ORIGINAL_COMMAND+set}" ]; then
  record session_start ",\\"tty\\":$tty,\\"from\\":\\"$from\\"" || refuse
  "$shell" -l
  st=$?
else
  hex=$(printf '%s' "$SSH_ORIGINAL_COMMAND" | od -An -v -N${MAX_COMMAND_BYTES + 1} -tx1 | tr -d ' \\n') || refuse
  trunc=false
  if [ \${#hex} -gt ${2 * MAX_COMMAND_BYTES} ]; then
    hex=\${hex%??}
    trunc=true
  fi
  record command ",\\"cmd\\":\\"$hex\\",\\"trunc\\":$trunc,\\"tty\\":$tty,\\"from\\":\\"$from\\"" || refuse
  if [ $trunc = true ]; then
    echo 'clawkeep: support commands longer than ${MAX_COMMAND_BYTES} bytes are recorded but not run' >&2
    st=126
  else
    "$shell" -c "$SSH_ORIGINAL_COMMAND"
    st=$?
  fi
fi
record session_end ",\\"ref\\":\\"$rid\\",\\"status\\":$st" || echo 'clawkeep: the end of this support session was not recorded' >&2
exit $st
`;
}
