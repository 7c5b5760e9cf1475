package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSSHConfigValueFollowsOpenSSHsFirstValueWins(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// like Debian's /etc/ssh/ssh_config
	system := write("etc/ssh_config", "Include ssh_config.d/*.conf\nHost *\n    SendEnv LANG LC_*\n    HashKnownHosts yes\n")
	write("etc/ssh_config.d/10-local.conf", "Host legacy.example.com\n  HashKnownHosts no\n")
	user := write("home/config", "# mine\nHost gpu-* !gpu-public\n  HashKnownHosts=no\nMatch host foo exec true\n  HashKnownHosts no\n")
	files := []string{user, system}
	for _, tc := range []struct{ host, want string }{
		{"ssh4.vast.ai", "yes"},      // the system's Host *
		{"gpu-7", "no"},              // the user's own block wins
		{"gpu-public", "yes"},        // negated in the user's block
		{"legacy.example.com", "no"}, // an included file, read before Host *
		{"LEGACY.EXAMPLE.COM", "no"}, // host names match without case
		{"foo", "yes"},               // Match blocks are not evaluated
	} {
		if got := sshConfigValue(files, tc.host, "hashknownhosts"); got != tc.want {
			t.Errorf("HashKnownHosts for %s = %q, want %q", tc.host, got, tc.want)
		}
	}
	if got := sshConfigValue([]string{filepath.Join(dir, "missing")}, "x", "HashKnownHosts"); got != "" {
		t.Errorf("no config: %q, want empty", got)
	}
}
