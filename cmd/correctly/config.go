package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/correctly/correctly/corpus"
)

// setting is one resolved configuration value and where it came from.
type setting struct {
	Key    string `json:"key"`
	Env    string `json:"env,omitempty"`
	Value  string `json:"value"`
	Source string `json:"source"` // flag, env, config file path, or default
	Secret bool   `json:"-"`
}

// config is the resolved configuration: flag > environment > config file > default.
// Secrets come only from the environment.
type config struct {
	MongoURI     string
	DB           string
	DataDir      string
	APIKey       string
	BaseURL      string
	Model        string
	ChromaURL    string
	Embedder     string
	EmbedModel   string
	EmbedBaseURL string
	HFToken      string

	settings []setting
	file     string
}

// configKey describes one setting: its config-file key, environment variable and default.
type configKey struct {
	key, env string
	secret   bool
	def      func() string
	dst      func(*config) *string
}

func configKeys() []configKey {
	return []configKey{
		{"mongodb_uri", "MONGODB_URI", false, nil, func(c *config) *string { return &c.MongoURI }},
		{"db", "CORRECTLY_DB", false, func() string { return "correctly" }, func(c *config) *string { return &c.DB }},
		{"data_dir", "CORRECTLY_DATA_DIR", false, defaultDataDir, func(c *config) *string { return &c.DataDir }},
		{"openai_api_key", "OPENAI_API_KEY", true, nil, func(c *config) *string { return &c.APIKey }},
		{"openai_base_url", "OPENAI_BASE_URL", false, nil, func(c *config) *string { return &c.BaseURL }},
		{"model", "CORRECTLY_MODEL", false, func() string { return "gpt-4o-mini" }, func(c *config) *string { return &c.Model }},
		{"chroma_url", "CHROMA_URL", false, nil, func(c *config) *string { return &c.ChromaURL }},
		{"embedder", "CORRECTLY_EMBEDDER", false, func() string { return "hash" }, func(c *config) *string { return &c.Embedder }},
		{"embed_model", "CORRECTLY_EMBED_MODEL", false, func() string { return "text-embedding-3-small" }, func(c *config) *string { return &c.EmbedModel }},
		{"embed_base_url", "CORRECTLY_EMBED_BASE_URL", false, nil, func(c *config) *string { return &c.EmbedBaseURL }},
		{"hf_token", "HF_TOKEN", true, nil, func(c *config) *string { return &c.HFToken }},
	}
}

func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "correctly")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".correctly"
	}
	return filepath.Join(home, ".local", "share", "correctly")
}

func configFilePath() string {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "correctly", "config.yaml")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".config", "correctly", "config.yaml")
}

// loadConfig resolves every setting. flags maps config keys to values given on the command line.
func loadConfig(getenv func(string) string, flags map[string]string) (*config, error) {
	c := &config{file: configFilePath()}
	fileVals := map[string]string{}
	if c.file != "" {
		b, err := os.ReadFile(c.file)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("read config file: %w", err)
		default:
			var raw map[string]any
			if err := yaml.Unmarshal(b, &raw); err != nil {
				return nil, fmt.Errorf("%s: %w", c.file, err)
			}
			known := map[string]configKey{}
			for _, k := range configKeys() {
				known[k.key] = k
			}
			keys := make([]string, 0, len(raw))
			for k := range raw {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				ck, ok := known[k]
				if !ok {
					return nil, fmt.Errorf("%s: unknown key %q (known: mongodb_uri, db, data_dir, openai_base_url, model, chroma_url, embedder, embed_model, embed_base_url)", c.file, k)
				}
				if ck.secret {
					return nil, fmt.Errorf("%s: %s is a secret and is read only from the environment: remove it and set %s", c.file, k, ck.env)
				}
				fileVals[k] = fmt.Sprint(raw[k])
			}
		}
	}
	for _, k := range configKeys() {
		s := setting{Key: k.key, Env: k.env, Secret: k.secret}
		if v, ok := flags[k.key]; ok && v != "" {
			s.Value, s.Source = v, "flag"
		} else if v := getenv(k.env); v != "" {
			s.Value, s.Source = v, "env"
		} else if v, ok := fileVals[k.key]; ok {
			s.Value, s.Source = v, c.file
		} else if k.def != nil {
			s.Value, s.Source = k.def(), "default"
		} else {
			s.Source = "unset"
		}
		*k.dst(c) = s.Value
		c.settings = append(c.settings, s)
	}
	if c.EmbedBaseURL == "" {
		c.EmbedBaseURL = c.BaseURL
	}
	return c, nil
}

// redacted returns the settings with secrets masked, for display: secret values entirely, and the
// passwords and credential parameters of URLs (MONGODB_URI, CHROMA_URL, OPENAI_BASE_URL...).
func (c *config) redacted() []setting {
	out := make([]setting, len(c.settings))
	for i, s := range c.settings {
		switch {
		case s.Secret && s.Value != "":
			s.Value = "***" + " (set)"
		case strings.Contains(s.Value, "://"):
			s.Value = corpus.RedactURI(s.Value)
		}
		out[i] = s
	}
	return out
}
