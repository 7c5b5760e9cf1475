package trainer

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"
)

// benchCipher is the one cipher push, scp and rsync all use in BenchmarkPush256MiBAgainstScpAndRsync,
// so that the comparison is of the tools, not of their default ciphers (x/crypto prefers AES-GCM,
// OpenSSH's client ChaCha20-Poly1305).
const benchCipher = "aes128-gcm@openssh.com"

// benchRounds is how many times each measured thing runs; figures are medians.
func benchRounds(b *testing.B) int { return max(3, b.N) }

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration{}, ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// benchPush pushes bundle to a fresh run directory and returns how long it took.
func benchPush(b *testing.B, c *Client, bundle string, target Endpoint, id string) (time.Duration, *PushResult) {
	b.Helper()
	t0 := time.Now()
	res, err := c.Push(context.Background(), PushOptions{Bundle: bundle, Target: target, RemoteDir: b.TempDir(), RunID: id})
	if err != nil {
		b.Fatalf("Push: %v", err)
	}
	return time.Since(t0), res
}

func mibPerSec(n int64, d time.Duration) float64 { return float64(n) / (1 << 20) / d.Seconds() }

// BenchmarkPush256MiBAgainstScpAndRsync pushes a 256 MiB bundle to a local sshd (upload, SHA-256
// check on the box, launch) and copies the same blob with scp and rsync, all three with the same
// cipher (benchCipher), interleaved, at least 3 times each; the figures are medians.
// Goal: push_MiB/s >= 0.9 x scp_MiB/s (push/scp metric).
func BenchmarkPush256MiBAgainstScpAndRsync(b *testing.B) {
	box := startBox(b)
	c, _ := testClient(b, box)
	c.Dial.Ciphers = []string{benchCipher}
	bundle, m := writeTestBundle(b, fakeSpec{}, 256<<20, nil)
	blob := filepath.Join(bundle, "data", "blob.bin")
	sshCmd := []string{"-F", "/dev/null", "-i", box.ClientKey, "-o", "UserKnownHostsFile=" + box.KnownHosts,
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-c", benchCipher}
	remote := box.User + "@127.0.0.1:"
	var pushT, scpT, rsyncT []time.Duration
	for i := 0; i < benchRounds(b); i++ {
		d, _ := benchPush(b, c, bundle, box.endpoint(0), fmt.Sprintf("bench-%d", i))
		pushT = append(pushT, d)

		dst := filepath.Join(b.TempDir(), "blob.bin")
		args := append(append([]string{"-q", "-P", strconv.Itoa(box.Port)}, sshCmd...), blob, remote+dst)
		t0 := time.Now()
		if out, err := exec.Command("scp", args...).CombinedOutput(); err != nil {
			b.Fatalf("scp: %v: %s", err, out)
		}
		scpT = append(scpT, time.Since(t0))

		dst = filepath.Join(b.TempDir(), "blob.bin")
		e := "ssh -p " + strconv.Itoa(box.Port)
		for _, a := range sshCmd {
			e += " " + a
		}
		t0 = time.Now()
		if out, err := exec.Command("rsync", "-a", "-e", e, blob, remote+dst).CombinedOutput(); err != nil {
			b.Fatalf("rsync: %v: %s", err, out)
		}
		rsyncT = append(rsyncT, time.Since(t0))
	}
	size := m.Size()
	fi, _ := os.Stat(blob)
	push, scp, rsync := median(pushT), median(scpT), median(rsyncT)
	b.ReportMetric(float64(len(pushT)), "runs")
	b.ReportMetric(mibPerSec(size, push), "push_MiB/s")
	b.ReportMetric(mibPerSec(fi.Size(), scp), "scp_MiB/s")
	b.ReportMetric(mibPerSec(fi.Size(), rsync), "rsync_MiB/s")
	b.ReportMetric(mibPerSec(size, push)/mibPerSec(fi.Size(), scp), "push/scp")
	b.ReportMetric(mibPerSec(size, push)/mibPerSec(fi.Size(), rsync), "push/rsync")
}

// BenchmarkPushThroughRelayAt50msRTT pushes a 64 MiB bundle through a relay adding 25 ms each way,
// at least 3 times; the figure is the median. Goal: >= 10 MiB/s.
func BenchmarkPushThroughRelayAt50msRTT(b *testing.B) {
	box := startBox(b)
	r := startRelay(b, box.Port)
	r.SetDelay(25 * time.Millisecond)
	box.trustOn(b, r.Port)
	c, _ := testClient(b, box)
	bundle, m := writeTestBundle(b, fakeSpec{}, 64<<20, nil)
	var ds []time.Duration
	for i := 0; i < benchRounds(b); i++ {
		d, _ := benchPush(b, c, bundle, box.endpoint(r.Port), fmt.Sprintf("rtt-%d", i))
		ds = append(ds, d)
	}
	b.ReportMetric(float64(len(ds)), "runs")
	b.ReportMetric(mibPerSec(m.Size(), median(ds)), "MiB/s")
}

// BenchmarkResumeAfterCutAt40Percent cuts the first connection after 40% of a 256 MiB bundle, then
// pushes the run again through the same relay, which counts what the resumed push sends upstream
// on the wire. Resent bytes are those beyond what the box still lacked: the resume window, plus
// every byte of SSH and SFTP overhead (handshake, commands, packet headers), so an upper bound.
// Goal: resent_bytes <= 2 MiB + 1% of the bundle (the worst of at least 3 runs is reported too).
func BenchmarkResumeAfterCutAt40Percent(b *testing.B) {
	box := startBox(b)
	c, _ := testClient(b, box)
	c.Retries = -1
	const size = 256 << 20
	bundle, m := writeTestBundle(b, fakeSpec{}, size, nil)
	var resent []int64
	var wire, missing int64
	for i := 0; i < benchRounds(b); i++ {
		r := startRelay(b, box.Port)
		box.trustOn(b, r.Port)
		r.SetCutAfter(func(n int) int64 {
			if n == 0 {
				return size * 4 / 10
			}
			return 0
		})
		o := PushOptions{Bundle: bundle, Target: box.endpoint(r.Port), RemoteDir: b.TempDir(), RunID: fmt.Sprintf("resume-%d", i)}
		res, err := c.Push(context.Background(), o)
		if err == nil {
			b.Fatal("Push through a link cut at 40% succeeded")
		}
		have := bytesOnBox(b, filepath.Join(o.RemoteDir, o.RunID), m)
		if have == 0 {
			b.Fatal("nothing of the bundle on the box after the cut")
		}
		o.Run = res.Run
		before := r.Up.Load()
		if _, err := c.Push(context.Background(), o); err != nil {
			b.Fatalf("resumed Push: %v", err)
		}
		up := r.Up.Load() - before
		lacked := m.Size() - have
		resent = append(resent, up-lacked)
		wire += up
		missing += lacked
	}
	sort.Slice(resent, func(i, j int) bool { return resent[i] < resent[j] })
	b.ReportMetric(float64(len(resent)), "runs")
	b.ReportMetric(float64(resent[len(resent)/2]), "resent_bytes")
	b.ReportMetric(float64(resent[len(resent)-1])/(1<<20), "worst_resent_MiB")
	b.ReportMetric(float64(wire)/float64(len(resent))/(1<<20), "wire_up_MiB")
	b.ReportMetric(float64(missing)/float64(len(resent))/(1<<20), "lacked_MiB")
	b.ReportMetric(float64(2<<20+m.Size()/100), "limit_bytes")
}

// bytesOnBox counts the bundle's bytes already in the run directory: files at their full size, and
// what .part files hold.
func bytesOnBox(tb testing.TB, dir string, m *Manifest) int64 {
	var n int64
	for _, f := range m.Files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if fi, err := os.Stat(p); err == nil && fi.Size() == f.Size {
			n += f.Size
		} else if fi, err := os.Stat(p + ".part"); err == nil {
			n += min(fi.Size(), f.Size)
		}
	}
	return n
}
