package trainer

import (
	"errors"
	"io"
	"net"
	"path"
	"regexp"
	"strings"

	"al.essio.dev/pkg/shellescape"
	"github.com/pkg/sftp"
)

// quote makes s one literal word of a POSIX shell command line.
func quote(s string) string { return shellescape.Quote(s) }

var runIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidRunID reports whether id can name a run: ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$.
func ValidRunID(id string) bool { return runIDPattern.MatchString(id) }

var envNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// remoteRunDir is the run's directory on the box; a leading ~/ means the login directory, which is
// where both the shell and the SFTP server start.
func remoteRunDir(remoteDir, id string) string {
	d := strings.TrimPrefix(remoteDir, "~/")
	if d == "~" || d == "" {
		d = "."
	}
	return path.Join(d, id)
}

// isLinkError reports whether err came from the connection rather than from the box refusing
// something, so the step is worth retrying on a new connection.
func isLinkError(c *Conn, err error) bool {
	if err == nil {
		return false
	}
	if c != nil && c.Err() != nil {
		return true
	}
	var ne net.Error
	var ee *ExitError
	if errors.As(err, &ee) {
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, sftp.ErrSSHFxConnectionLost) ||
		errors.Is(err, net.ErrClosed) || errors.As(err, &ne) || strings.Contains(err.Error(), "connection lost") ||
		strings.Contains(err.Error(), "session closed") || strings.Contains(err.Error(), "EOF")
}

// hashScript runs on the box with python3 (which training needs anyway): it hashes files named on
// stdin (mode files; mode plan creates their directories and gives their sizes and those of their
// .part files), the blocks of one file (mode blocks) or every file below a directory (mode
// tree, without the trainer's checkpoints/ and checkpoint-*/ directories; mode treeall with them), and prints JSON. File names never reach a command line.
const hashScript = `
import hashlib, json, os, sys
root, mode = sys.argv[1], sys.argv[2]
def digest(p, blocks=0):
    h, n, out = hashlib.sha256(), 0, []
    with open(p, "rb") as f:
        while True:
            b = f.read(blocks or 1 << 20)
            if not b:
                break
            n += len(b)
            if blocks:
                out.append(hashlib.sha256(b).hexdigest())
            else:
                h.update(b)
    return out if blocks else [n, h.hexdigest()]
if mode == "files":
    out = {}
    for p in json.load(sys.stdin):
        try:
            out[p] = digest(os.path.join(root, p))
        except OSError:
            out[p] = None
elif mode == "plan":
    out = {}
    for p in json.load(sys.stdin):
        full = os.path.join(root, p)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        sizes = []
        for q in (full, full + ".part"):
            try:
                sizes.append(os.stat(q).st_size)
            except OSError:
                sizes.append(-1)
        out[p] = sizes
elif mode == "blocks":
    req = json.load(sys.stdin)
    out = digest(os.path.join(root, req["path"]), req["block"])
else:
    out = []
    if os.path.isdir(root):
        for d, dirs, files in os.walk(root):
            if mode == "tree" and d == root:
                dirs[:] = [x for x in dirs if x != "checkpoints" and not x.startswith("checkpoint-")]
            for name in files:
                p = os.path.join(d, name)
                if os.path.isfile(p) and not os.path.islink(p):
                    n, h = digest(p)
                    out.append({"path": os.path.relpath(p, root), "size": n, "sha256": h})
json.dump(out, sys.stdout)
`

// cancelScript runs on the box with python3: it marks the run cancelled, sends TERM to every process
// of the job (its process group, its session, and any descendant that left them), waits up to the
// grace period, then sends KILL to whatever is left. A pid whose start time differs from the
// recorded one belongs to someone else and is left alone.
const cancelScript = `
import os, signal, sys, time
rd, leader, start, grace = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
open(os.path.join(rd, "state", "cancelled"), "w").close()
def stat(p):
    try:
        with open("/proc/%d/stat" % p) as f:
            s = f.read()
    except OSError:
        return None
    return s.rsplit(")", 1)[1].split()
known = {}
lst = stat(leader)
if lst is not None and start and lst[19] != start:
    print("reused=1")
    sys.exit(0)
def scan():
    procs = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = stat(int(d))
            if st is not None and st[0] != "Z":
                procs[int(d)] = st
    for p, st in procs.items():
        if int(st[2]) == leader or int(st[3]) == leader:
            known.setdefault(p, st[19])
    grew = True
    while grew:
        grew = False
        for p, st in procs.items():
            if p not in known and int(st[1]) in known:
                known[p] = st[19]
                grew = True
    return [p for p, t in known.items() if p in procs and procs[p][19] == t]
def signal_all(sig):
    alive = scan()
    for p in alive:
        try:
            os.kill(p, sig)
        except OSError:
            pass
    return alive
n = len(signal_all(signal.SIGTERM))
deadline = time.time() + grace
while scan() and time.time() < deadline:
    time.sleep(0.1)
killed = 0
for _ in range(50):
    alive = signal_all(signal.SIGKILL)
    if not alive:
        break
    killed += len(alive)
    time.sleep(0.1)
print("termed=%d killed=%d left=%d" % (n, killed, len(scan())))
`

// followScript runs on the box with python3 while a big file is uploaded into its .part file: it
// hashes the bytes as they land (up to the file's size less one window of writes in flight), and
// the rest once stdin closes, which the client does after every write was acknowledged. It prints
// the SHA-256, so the box's check of that file costs no extra pass after the upload.
const followScript = `
import hashlib, json, os, select, sys
root = sys.argv[1]
line = b""
while not line.endswith(b"\n"):
    c = os.read(0, 1)
    if not c:
        sys.exit(1)
    line += c
req = json.loads(line)
p, size, window = os.path.join(root, req["path"]), req["size"], req["window"]
h, done, closed, f = hashlib.sha256(), 0, False, None
while True:
    if f is None:
        try:
            f = open(p, "rb")
        except OSError:
            pass
    try:
        st = os.stat(p).st_size
    except OSError:
        st = 0
    limit = min(size, st if closed else max(0, st - window))
    while f is not None and done < limit:
        b = f.read(min(1 << 20, limit - done))
        if not b:
            break
        h.update(b)
        done += len(b)
    if closed:
        print(h.hexdigest() if done == size else "short")
        break
    r, _, _ = select.select([0], [], [], 0.02)
    if r and not os.read(0, 4096):
        closed = True
`
