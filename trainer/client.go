package trainer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/ssh"

	"github.com/correctly/correctly/corpus"
)

// Client pushes bundles to boxes and watches, pulls and cancels the runs it launched there. The zero
// value plus Dial's key and known_hosts settings works; the other fields have defaults.
type Client struct {
	// Dial holds authentication, known_hosts and timeouts; the target, jump host and pinned key of
	// each call come from the run.
	Dial DialOptions
	// Save records the run before each remote step (corpus.Store.SaveTrainRun); nil saves nothing.
	Save func(context.Context, *corpus.TrainRun) error
	Now  func() time.Time
	Log  zerolog.Logger

	Heartbeat    time.Duration // how often the job touches its heartbeat file; default 5s
	StallAfter   time.Duration // heartbeat age that makes a live job STALLED; default 2m
	CancelGrace  time.Duration // time between TERM and KILL on cancel; default 30s
	PollInterval time.Duration // logs -f polling period; default 2s
	Retries      int           // reconnects per operation after a lost link; default 5, negative none
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) heartbeat() time.Duration {
	if c.Heartbeat > 0 {
		return c.Heartbeat
	}
	return 5 * time.Second
}

func (c *Client) stallAfter() time.Duration {
	if c.StallAfter > 0 {
		return c.StallAfter
	}
	return 2 * time.Minute
}

func (c *Client) cancelGrace() time.Duration {
	if c.CancelGrace > 0 {
		return c.CancelGrace
	}
	return 30 * time.Second
}

func (c *Client) pollInterval() time.Duration {
	if c.PollInterval > 0 {
		return c.PollInterval
	}
	return 2 * time.Second
}

func (c *Client) retries() int {
	if c.Retries < 0 {
		return 0
	}
	if c.Retries > 0 {
		return c.Retries
	}
	return 5
}

func (c *Client) save(ctx context.Context, run *corpus.TrainRun, phase string) error {
	if phase != "" {
		run.Phase = phase
	}
	run.UpdatedAt = c.now().UTC()
	if c.Save == nil {
		return nil
	}
	if err := c.Save(ctx, run); err != nil {
		return fmt.Errorf("record train run %s before %s: %w", run.ID, phase, err)
	}
	return nil
}

// dialRun connects to the run's box, holding it to the host key pinned at push.
func (c *Client) dialRun(ctx context.Context, run *corpus.TrainRun, acceptNew bool) (*Conn, error) {
	o := c.Dial
	o.Target = Endpoint{User: run.User, Host: run.Host, Port: run.Port}
	o.Jump = nil
	if run.Jump != "" {
		j, err := ParseEndpoint(run.Jump, run.User)
		if err != nil {
			return nil, fmt.Errorf("train run %s: jump host: %w", run.ID, err)
		}
		o.Jump = &j
	}
	o.PinnedHostKey = run.HostKey
	o.AcceptNewHostKey = acceptNew && run.HostKey == ""
	if len(run.IdentityFiles) > 0 {
		o.KeyFiles = appendNew(append([]string{}, o.KeyFiles...), run.IdentityFiles...)
	}
	conn, err := Dial(ctx, o)
	if err != nil {
		return nil, err
	}
	if run.HostKey == "" {
		run.HostKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(conn.HostKey)))
		run.HostKeyFingerprint = ssh.FingerprintSHA256(conn.HostKey)
	}
	return conn, nil
}

func appendNew(list []string, more ...string) []string {
	for _, m := range more {
		found := false
		for _, l := range list {
			found = found || l == m
		}
		if !found {
			list = append(list, m)
		}
	}
	return list
}

// session keeps one connection to a run's box and replaces it, with backoff, when the link dies.
type session struct {
	c    *Client
	run  *corpus.TrainRun
	conn *Conn
	fail int
}

func (s *session) get(ctx context.Context) (*Conn, error) {
	if s.conn != nil && s.conn.Err() == nil {
		return s.conn, nil
	}
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	conn, err := s.c.dialRun(ctx, s.run, false)
	if err != nil {
		return nil, err
	}
	s.conn = conn
	return conn, nil
}

// retry reports whether err is a lost link worth another connection, after waiting the backoff.
func (s *session) retry(ctx context.Context, err error) bool {
	var he *HostKeyError
	if err == nil || ctx.Err() != nil || errors.As(err, &he) || errors.Is(err, errLocalChanged) ||
		strings.Contains(err.Error(), "unable to authenticate") || strings.Contains(err.Error(), "no SSH key") ||
		(s.conn != nil && !isLinkError(s.conn, err)) {
		return false
	}
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	s.fail++
	if s.fail > s.c.retries() {
		return false
	}
	wait := time.Duration(1<<min(s.fail-1, 5)) * 200 * time.Millisecond
	s.c.Log.Warn().Err(err).Int("attempt", s.fail).Dur("wait", wait).Str("run", s.run.ID).Msg("link lost; reconnecting")
	select {
	case <-ctx.Done():
		return false
	case <-time.After(wait):
		return true
	}
}

func (s *session) close() {
	if s.conn != nil {
		s.conn.Close()
	}
}
