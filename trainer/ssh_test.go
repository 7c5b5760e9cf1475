package trainer

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func TestDialRunsACommandOnTheBox(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	c := dialBox(t, b.dialOptions(0))
	out, err := c.Run(context.Background(), "echo hello", nil)
	if err != nil || string(out) != "hello\n" {
		t.Fatalf("Run(echo hello) = %q, %v; want hello", out, err)
	}
	if !bytesEqualKey(c.HostKey, b.HostKey) {
		t.Errorf("HostKey = %s, want the box's %s", ssh.FingerprintSHA256(c.HostKey), ssh.FingerprintSHA256(b.HostKey))
	}
}

func bytesEqualKey(a, b ssh.PublicKey) bool {
	return a != nil && b != nil && string(a.Marshal()) == string(b.Marshal())
}

func TestDialRefusesAnUnknownHostWithoutTheFlag(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	o := b.dialOptions(0)
	o.KnownHostsFile = t.TempDir() + "/known_hosts"
	_, err := Dial(context.Background(), o)
	var he *HostKeyError
	if !errors.As(err, &he) || !he.Unknown {
		t.Fatalf("Dial to an unknown host = %v, want an unknown-host HostKeyError", err)
	}
	if !strings.Contains(err.Error(), "--accept-new-host-key") || !strings.Contains(err.Error(), ssh.FingerprintSHA256(b.HostKey)) {
		t.Errorf("error %q should name the flag and the offered fingerprint", err)
	}

	o.AcceptNewHostKey = true
	c := dialBox(t, o)
	c.Close()
	kh, _ := os.ReadFile(o.KnownHostsFile)
	if !strings.Contains(string(kh), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(b.HostKey)))) {
		t.Errorf("known_hosts after --accept-new-host-key = %q, want the box's key recorded", kh)
	}
	o.AcceptNewHostKey = false
	dialBox(t, o) // now known
}

func TestDialRefusesAChangedKeyNamingBothFingerprints(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	other := startBox(t)
	o := b.dialOptions(0)
	o.KnownHostsFile = other.KnownHosts // other's key recorded for other's port...
	other.trustOn(t, b.Port)            // ...and for b's port: b now presents a changed key
	_, err := Dial(context.Background(), o)
	var he *HostKeyError
	if !errors.As(err, &he) || he.Unknown {
		t.Fatalf("Dial with a changed key = %v, want a changed-key HostKeyError", err)
	}
	for _, want := range []string{ssh.FingerprintSHA256(b.HostKey), ssh.FingerprintSHA256(other.HostKey)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name fingerprint %s", err, want)
		}
	}

	// a pinned key overrides known_hosts and is just as strict
	o.PinnedHostKey = string(ssh.MarshalAuthorizedKey(other.HostKey))
	if _, err := Dial(context.Background(), o); !errors.As(err, &he) {
		t.Errorf("Dial with a wrong pinned key = %v, want a HostKeyError", err)
	}
	o.PinnedHostKey = string(ssh.MarshalAuthorizedKey(b.HostKey))
	dialBox(t, o)
}

func TestDialGivesUpOnAServerThatSendsNoBanner(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	r := startRelay(t, b.Port)
	r.SetNoBanner(true)
	o := b.dialOptions(r.Port)
	o.HandshakeTimeout = 500 * time.Millisecond
	done := make(chan error, 1)
	go func() {
		_, err := Dial(context.Background(), o)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "no SSH handshake within") {
			t.Fatalf("Dial to a silent server = %v, want a handshake deadline error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Dial to a silent server still hangs after 30s; the handshake deadline does not work")
	}
}

func TestABlackholedLinkFailsWithinTheKeepaliveLimit(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	r := startRelay(t, b.Port)
	b.trustOn(t, r.Port)
	c := dialBox(t, b.dialOptions(r.Port))
	r.SetBlackhole(true)
	done := make(chan error, 1)
	go func() {
		_, err := c.Run(context.Background(), "sleep 60", nil)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || c.Err() == nil {
			t.Fatalf("Run over a blackholed link = %v (link error %v), want a dead-link error", err, c.Err())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run over a blackholed link still hangs after 30s; keepalives do not close it")
	}
}

func TestDialThroughAJumpHost(t *testing.T) {
	t.Parallel()
	b := startBox(t)
	o := b.dialOptions(0)
	jump := b.endpoint(0) // the box forwards to itself
	o.Jump = &jump
	c := dialBox(t, o)
	out, err := c.Run(context.Background(), "echo via-jump", nil)
	if err != nil || string(out) != "via-jump\n" {
		t.Fatalf("Run through a jump host = %q, %v", out, err)
	}
}
