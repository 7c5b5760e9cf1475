package trainer

import (
	"context"
	"testing"
	"time"

	"github.com/correctly/correctly/trainer/sshtest"
)

type testBox struct{ *sshtest.Box }

// startBox starts a test box that looks like a rented GPU box: a fake nvidia-smi reports an H100
// with a recent driver. Tests of GPU-less boxes remove it.
func startBox(tb testing.TB, opts ...sshtest.Option) testBox {
	b := testBox{sshtest.StartBox(tb, opts...)}
	b.GPU(tb, "NVIDIA H100 80GB HBM3", 81559, "550.54.15")
	return b
}

func (b testBox) trustOn(tb testing.TB, port int) { b.TrustOn(tb, port) }

func startRelay(tb testing.TB, port int) *sshtest.Relay { return sshtest.StartRelay(tb, port) }

func (b testBox) endpoint(port int) Endpoint {
	if port == 0 {
		port = b.Port
	}
	return Endpoint{User: b.User, Host: "127.0.0.1", Port: port}
}

func (b testBox) dialOptions(port int) DialOptions {
	return DialOptions{
		Target:            b.endpoint(port),
		KeyFiles:          []string{b.ClientKey},
		KnownHostsFile:    b.KnownHosts,
		HandshakeTimeout:  5 * time.Second,
		KeepaliveInterval: 500 * time.Millisecond,
		KeepaliveMax:      3,
	}
}

func dialBox(tb testing.TB, o DialOptions) *Conn {
	tb.Helper()
	c, err := Dial(context.Background(), o)
	if err != nil {
		tb.Fatalf("Dial(%s): %v", o.Target, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}
