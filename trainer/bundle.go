// Package trainer prepares self-contained training bundles and runs them on a rented GPU box over SSH:
// push once (resumable, verified upload and a detached launch that survives the connection), then watch
// the job's status and logs, pull its results, or cancel it. No daemon of ours runs on the box; the job's
// state lives in files under its run directory there.
package trainer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"

	"path/filepath"
	"sort"
	"strings"
	"time"
)

//go:embed assets
var assets embed.FS

// Message is one turn of a chat-format training example.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Example is one line of data/train.jsonl, data/val.jsonl or data/test.jsonl.
type Example struct {
	Messages []Message `json:"messages"`
}

// LoRAConfig holds the adapter hyperparameters used when Method is "lora".
type LoRAConfig struct {
	R       int     `json:"r"`
	Alpha   int     `json:"alpha"`
	Dropout float64 `json:"dropout"`
}

// TrainConfig is config.json of a bundle: what train.py reads. Zero fields take the defaults of
// DefaultTrainConfig, except BaseModel, which is required.
type TrainConfig struct {
	BaseModel    string  `json:"base_model"`
	Method       string  `json:"method"` // lora or full
	Epochs       int     `json:"epochs"`
	BatchSize    int     `json:"batch_size"`
	LearningRate float64 `json:"learning_rate"`
	Seed         int64   `json:"seed"`
	MaxSeqLen    int     `json:"max_seq_len"`
	OutputDir    string  `json:"output_dir"`
	TrainFile    string  `json:"train_file"`
	ValFile      string  `json:"val_file"`
	// TestFile is set when the bundle has a test part: train.py then writes output/predictions.jsonl.
	TestFile string `json:"test_file,omitempty"`
	// MaxNewTokens caps each generated answer (validation samples and test predictions).
	MaxNewTokens int        `json:"max_new_tokens"`
	LoRA         LoRAConfig `json:"lora"`
}

// DefaultTrainConfig returns the hyperparameters used for every field left zero.
func DefaultTrainConfig() TrainConfig {
	return TrainConfig{
		Method:       "lora",
		Epochs:       3,
		BatchSize:    8,
		LearningRate: 2e-4,
		Seed:         42,
		MaxSeqLen:    1024,
		OutputDir:    "output",
		TrainFile:    "data/train.jsonl",
		ValFile:      "data/val.jsonl",
		MaxNewTokens: 256,
		LoRA:         LoRAConfig{R: 16, Alpha: 32, Dropout: 0.05},
	}
}

func (c TrainConfig) withDefaults() TrainConfig {
	d := DefaultTrainConfig()
	if c.Method == "" {
		c.Method = d.Method
	}
	if c.Epochs == 0 {
		c.Epochs = d.Epochs
	}
	if c.BatchSize == 0 {
		c.BatchSize = d.BatchSize
	}
	if c.LearningRate == 0 {
		c.LearningRate = d.LearningRate
	}
	if c.Seed == 0 {
		c.Seed = d.Seed
	}
	if c.MaxSeqLen == 0 {
		c.MaxSeqLen = d.MaxSeqLen
	}
	if c.OutputDir == "" {
		c.OutputDir = d.OutputDir
	}
	c.TrainFile, c.ValFile = d.TrainFile, d.ValFile
	if c.MaxNewTokens == 0 {
		c.MaxNewTokens = d.MaxNewTokens
	}
	if c.LoRA == (LoRAConfig{}) {
		c.LoRA = d.LoRA
	}
	return c
}

func (c TrainConfig) validate() error {
	switch {
	case strings.TrimSpace(c.BaseModel) == "":
		return errors.New("no base model: pass a Hugging Face model id, e.g. --base-model Qwen/Qwen2.5-0.5B-Instruct")
	case c.Method != "lora" && c.Method != "full":
		return fmt.Errorf("method %q: use lora or full", c.Method)
	case c.Epochs < 0 || c.BatchSize < 0 || c.MaxSeqLen < 0 || c.LearningRate < 0 || c.MaxNewTokens < 0:
		return errors.New("epochs, batch size, max sequence length, max new tokens and learning rate must be positive")
	case !localName(c.OutputDir):
		return fmt.Errorf("output dir %q: use a relative path inside the bundle", c.OutputDir)
	}
	return nil
}

// BundleSpec is everything a bundle is made of. The same spec always gives byte-identical files.
type BundleSpec struct {
	Train, Val     []Example
	Test           []Example // optional: written as data/test.jsonl, predicted after training
	Config         TrainConfig
	PromptVersions []string
	SplitID        string
	SplitKind      string // "split" (a stored split) or "random" (a seeded random split)
	Created        time.Time
	ToolVersion    string
	Extra          map[string]any
	// Files are written into the bundle verbatim, by slash-separated relative path, after the
	// standard files; an entry named like a standard file replaces it (tests use this for a fake
	// train.py).
	Files map[string][]byte

	// TestRecords names the record of each Test example, in order: the manifest keeps them, so that
	// the predictions can be scored against their records.
	TestRecords []string
}

// FileEntry describes one bundle file in the manifest.
type FileEntry struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Mode   uint32 `json:"mode"`
}

// Manifest is manifest.json: what the bundle holds and how to check it.
type Manifest struct {
	Format         int            `json:"format"`
	ToolVersion    string         `json:"tool_version"`
	Created        time.Time      `json:"created"`
	SplitID        string         `json:"split_id,omitempty"`
	SplitKind      string         `json:"split_kind,omitempty"`
	PromptVersions []string       `json:"prompt_versions"`
	Counts         map[string]int `json:"counts"`
	DatasetSHA256  string         `json:"dataset_sha256"`
	BaseModel      string         `json:"base_model"`
	Method         string         `json:"method"`
	Files          []FileEntry    `json:"files"`
	Extra          map[string]any `json:"extra,omitempty"`
	// TestRecords are the record IDs of data/test.jsonl's lines, in order.
	TestRecords []string `json:"test_records,omitempty"`
}

// Has reports whether the manifest lists the file at the slash-separated path p.
func (m *Manifest) Has(p string) bool {
	for _, f := range m.Files {
		if f.Path == p {
			return true
		}
	}
	return false
}

// ManifestFile is the name of the manifest inside a bundle.
const ManifestFile = "manifest.json"

// Size is the number of bytes of every file the manifest lists.
func (m *Manifest) Size() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// WriteBundle writes a training bundle into dir: data/train.jsonl, data/val.jsonl (and
// data/test.jsonl when spec.Test has examples), config.json, train.py, requirements.txt, run.sh,
// watchdog.py and manifest.json. It writes into a temporary sibling directory
// and renames it into place, so dir is either the old bundle or the new one, never half of either. An
// existing dir is replaced only when it is empty or holds a bundle (a manifest.json).
func WriteBundle(dir string, spec BundleSpec) (*Manifest, error) {
	cfg := spec.Config.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("write bundle: %w", err)
	}
	if len(spec.Train) == 0 {
		return nil, errors.New("write bundle: no training examples: generate and accept records first")
	}
	if len(spec.Test) > 0 {
		cfg.TestFile = "data/test.jsonl"
	} else {
		cfg.TestFile = ""
	}
	files := map[string][]byte{}
	var err error
	if cfg.TestFile != "" {
		if files[cfg.TestFile], err = jsonl(spec.Test); err != nil {
			return nil, fmt.Errorf("write bundle: encode test examples: %w", err)
		}
	}
	if files[cfg.TrainFile], err = jsonl(spec.Train); err != nil {
		return nil, fmt.Errorf("write bundle: encode training examples: %w", err)
	}
	if files[cfg.ValFile], err = jsonl(spec.Val); err != nil {
		return nil, fmt.Errorf("write bundle: encode validation examples: %w", err)
	}
	if files["config.json"], err = indentJSON(cfg); err != nil {
		return nil, fmt.Errorf("write bundle: encode config: %w", err)
	}
	for _, name := range []string{"train.py", "requirements.txt", "run.sh", "watchdog.py"} {
		b, err := assets.ReadFile("assets/" + name)
		if err != nil {
			if _, ok := spec.Files[name]; ok {
				continue
			}
			return nil, fmt.Errorf("write bundle: %s is missing from this build of correctly (trainer/assets/%s)", name, name)
		}
		files[name] = b
	}
	for name, b := range spec.Files {
		if !localName(name) || name == ManifestFile {
			return nil, fmt.Errorf("write bundle: extra file %q: use a relative path inside the bundle", name)
		}
		files[name] = b
	}

	m := &Manifest{
		Format:         1,
		ToolVersion:    spec.ToolVersion,
		Created:        spec.Created.UTC(),
		SplitID:        spec.SplitID,
		SplitKind:      spec.SplitKind,
		PromptVersions: append([]string{}, spec.PromptVersions...),
		Counts:         map[string]int{"train": len(spec.Train), "val": len(spec.Val)},
		BaseModel:      cfg.BaseModel,
		Method:         cfg.Method,
		Extra:          spec.Extra,
	}
	if len(spec.Test) > 0 {
		m.Counts["test"] = len(spec.Test)
		if len(spec.TestRecords) == len(spec.Test) {
			m.TestRecords = append([]string{}, spec.TestRecords...)
		}
	}
	sort.Strings(m.PromptVersions)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		sum := sha256.Sum256(files[n])
		m.Files = append(m.Files, FileEntry{Path: n, Size: int64(len(files[n])), SHA256: hex.EncodeToString(sum[:]), Mode: uint32(fileMode(n))})
	}
	ds := sha256.New()
	for _, n := range []string{cfg.TrainFile, cfg.ValFile, cfg.TestFile} {
		if n == "" {
			continue
		}
		sum := sha256.Sum256(files[n])
		fmt.Fprintf(ds, "%s  %s\n", hex.EncodeToString(sum[:]), n)
	}
	m.DatasetSHA256 = hex.EncodeToString(ds.Sum(nil))
	if files[ManifestFile], err = indentJSON(m); err != nil {
		return nil, fmt.Errorf("write bundle: encode manifest: %w", err)
	}

	if err := replaceDir(dir, func(tmp string) error {
		for _, n := range append(names, ManifestFile) {
			p := filepath.Join(tmp, filepath.FromSlash(n))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(p, files[n], fileMode(n)); err != nil {
				return err
			}
			if err := os.Chmod(p, fileMode(n)); err != nil { // WriteFile's mode is filtered by the umask
				return err
			}
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("write bundle to %s: %w", dir, err)
	}
	return m, nil
}

func fileMode(name string) os.FileMode {
	if strings.HasSuffix(name, ".sh") || name == "train.py" || name == "watchdog.py" {
		return 0o755
	}
	return 0o644
}

// localName reports whether name is a clean relative slash path that stays inside its directory.
func localName(name string) bool {
	return name != "" && fs.ValidPath(name) && name != "."
}

func jsonl(examples []Example) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, e := range examples {
		if err := enc.Encode(e); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

func indentJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// replaceDir fills a temporary sibling of dir with fill and renames it over dir.
func replaceDir(dir string, fill func(tmp string) error) error {
	dir = filepath.Clean(dir)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		if _, err := os.Stat(filepath.Join(dir, ManifestFile)); err != nil {
			return fmt.Errorf("%s exists and is not a bundle: choose another -o directory or empty it", dir)
		}
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := fill(tmp); err != nil {
		return err
	}
	old := ""
	if _, err := os.Stat(dir); err == nil {
		old = tmp + ".old"
		if err := os.Rename(dir, old); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if old != "" {
			_ = os.Rename(old, dir)
		}
		return err
	}
	if old != "" {
		return os.RemoveAll(old)
	}
	return nil
}

// ReadManifest reads and checks dir/manifest.json.
func ReadManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("read bundle manifest: %w (is %s a bundle written by `correctly train bundle`?)", err, dir)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("read bundle manifest %s: %w", filepath.Join(dir, ManifestFile), err)
	}
	for _, f := range m.Files {
		if !localName(f.Path) || f.Path == ManifestFile {
			return nil, fmt.Errorf("bundle manifest %s: bad file path %q", dir, f.Path)
		}
	}
	return &m, nil
}

// VerifyBundle checks every file of the bundle in dir against its manifest and returns the manifest.
func VerifyBundle(dir string) (*Manifest, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	for _, f := range m.Files {
		sum, size, err := fileSHA256(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil {
			return nil, fmt.Errorf("verify bundle %s: %w", dir, err)
		}
		if sum != f.SHA256 || size != f.Size {
			return nil, fmt.Errorf("verify bundle %s: %s changed since the bundle was written: write the bundle again", dir, f.Path)
		}
	}
	return m, nil
}

func fileSHA256(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// DryRun runs `python3 train.py --dry-run` in the bundle dir, which checks data and config with the
// Python standard library only. It returns the combined output; the error wraps exec.ErrNotFound when
// there is no python3.
func DryRun(ctx context.Context, dir string) ([]byte, error) {
	py, err := exec.LookPath("python3")
	if err != nil {
		return nil, fmt.Errorf("dry-run bundle: %w", err)
	}
	cmd := exec.CommandContext(ctx, py, "train.py", "--dry-run")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("dry-run bundle %s: train.py --dry-run: %w: %s", dir, err, lastLines(out, 5))
	}
	return out, nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
