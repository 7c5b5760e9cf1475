package edits

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"io"
	"strings"
	"sync"
)

// wordsGz is an English word list (see words-LICENSE.txt): it tells a misspelling from a real word,
// as ERRANT's dictionary check does.
//
//go:embed words.txt.gz
var wordsGz []byte

var (
	dictOnce sync.Once
	dict     map[string]struct{}
)

// inDict reports whether the lowercase word is an English word; the list is loaded on first use.
func inDict(low string) bool {
	dictOnce.Do(loadDict)
	_, ok := dict[low]
	return ok
}

func loadDict() {
	zr, err := gzip.NewReader(bytes.NewReader(wordsGz))
	if err != nil {
		// The list is embedded at build time; a corrupt one leaves the lexicon as the only dictionary.
		dict = map[string]struct{}{}
		return
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		dict = map[string]struct{}{}
		return
	}
	text := string(b)
	dict = make(map[string]struct{}, strings.Count(text, "\n")+len(lexicon))
	for line := range strings.Lines(text) {
		dict[strings.TrimSuffix(line, "\n")] = struct{}{}
	}
	for w := range lexicon {
		dict[w] = struct{}{}
	}
}
