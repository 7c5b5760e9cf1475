package main

import (
	"bufio"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// sshConfigValue returns the value OpenSSH's client would use for keyword when connecting to host,
// from the user's ~/.ssh/config and then /etc/ssh/ssh_config (the first value found wins, as in
// ssh_config(5)), following Include and Host blocks; Match blocks are skipped (their conditions are
// not evaluated). It returns "" when no file sets it.
func sshConfigValue(files []string, host, keyword string) string {
	for _, f := range files {
		if v, ok := sshConfigFile(f, filepath.Dir(f), host, strings.ToLower(keyword), true, 0); ok {
			return v
		}
	}
	return ""
}

func sshConfigFile(file, base, host, keyword string, active bool, depth int) (string, bool) {
	if depth > 8 {
		return "", false
	}
	f, err := os.Open(file)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, rest := line, ""
		if i := strings.IndexAny(line, " \t="); i >= 0 {
			key, rest = line[:i], strings.TrimLeft(line[i:], " \t=")
		}
		args := strings.Fields(rest)
		switch k := strings.ToLower(key); k {
		case "host":
			active = sshHostMatches(args, host)
		case "match":
			active = len(args) == 1 && strings.EqualFold(args[0], "all")
		case "include":
			if !active {
				continue
			}
			for _, pattern := range args {
				if !filepath.IsAbs(pattern) {
					pattern = filepath.Join(base, pattern)
				}
				matches, _ := filepath.Glob(pattern)
				for _, m := range matches {
					if v, ok := sshConfigFile(m, base, host, keyword, true, depth+1); ok {
						return v, true
					}
				}
			}
		case keyword:
			if active && len(args) > 0 {
				return strings.Trim(args[0], `"`), true
			}
		}
	}
	return "", false
}

// sshHostMatches applies a Host line's patterns (*, ?, and ! to negate) to host.
func sshHostMatches(patterns []string, host string) bool {
	matched := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(host)); ok {
			if neg {
				return false
			}
			matched = true
		}
	}
	return matched
}

// sshConfigFiles are the OpenSSH client configs, the user's first.
func sshConfigFiles(home string) []string {
	return []string{filepath.Join(home, ".ssh", "config"), "/etc/ssh/ssh_config"}
}
