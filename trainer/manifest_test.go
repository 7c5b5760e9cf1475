package trainer

import (
	"path/filepath"
	"slices"
	"testing"
)

func TestManifestNamesTheRecordOfEachTestExample(t *testing.T) {
	spec := testSpec()
	spec.Test = []Example{
		{Messages: []Message{{Role: "user", Content: "I go home."}, {Role: "assistant", Content: "I went home."}}},
		{Messages: []Message{{Role: "user", Content: "She like it."}, {Role: "assistant", Content: "She likes it."}}},
	}
	spec.TestRecords = []string{"run-b-00003", "run-a-00001"}
	dir := filepath.Join(t.TempDir(), "bundle")
	if _, err := WriteBundle(dir, spec); err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.TestRecords, spec.TestRecords) || m.Counts["test"] != 2 {
		t.Errorf("manifest test records = %v (test count %d), want %v in the order of data/test.jsonl", m.TestRecords, m.Counts["test"], spec.TestRecords)
	}
}
