package llmtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// BatchCounts tallies what the fake Batch API did.
type BatchCounts struct {
	Uploads   int            // files uploaded
	Deleted   int            // files deleted
	Batches   int            // batches created
	Cancelled int            // batches cancelled
	Lines     int            // request lines received in the input files of batches
	Answered  int            // lines answered
	Sends     map[string]int // lines received per custom_id
}

type batchAPI struct {
	files   map[string]*fakeFile
	batches map[string]*fakeBatch
	order   []string
	counts  BatchCounts
	fails   int
	expires int
}

type fakeFile struct {
	file openai.File
	key  string
	data []byte
}

type fakeBatch struct {
	batch   openai.Batch
	key     string
	created time.Time
	ended   bool
}

// BatchCounts returns a snapshot of the Batch API's tallies.
func (s *Server) BatchCounts() BatchCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.batchAPI.counts
	c.Sends = make(map[string]int, len(s.batchAPI.counts.Sends))
	for k, v := range s.batchAPI.counts.Sends {
		c.Sends[k] = v
	}
	return c
}

// handleBatchAPI serves /v1/files and /v1/batches. A batch is seen only with the key that made it.
func (s *Server) handleBatchAPI(w http.ResponseWriter, r *http.Request) {
	if s.NoBatchAPI {
		writeErr(w, http.StatusNotFound, "not found", "")
		return
	}
	key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Key != "" && key != s.Key {
		writeErr(w, http.StatusUnauthorized, "Incorrect API key provided", "invalid_api_key")
		return
	}
	b := &s.batchAPI
	if b.files == nil {
		b.files, b.batches, b.counts.Sends = map[string]*fakeFile{}, map[string]*fakeBatch{}, map[string]int{}
	}
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/v1/"), "/"), "/")
	switch {
	case parts[0] == "files" && len(parts) == 1 && r.Method == http.MethodPost:
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			writeErr(w, http.StatusBadRequest, "bad form: "+err.Error(), "")
			return
		}
		f, h, err := r.FormFile("file")
		if err != nil {
			writeErr(w, http.StatusBadRequest, "no file: "+err.Error(), "")
			return
		}
		data, _ := io.ReadAll(f)
		id := fmt.Sprintf("file-%d", len(b.files)+1)
		b.files[id] = &fakeFile{file: openai.File{ID: id, FileName: h.Filename, Purpose: r.FormValue("purpose"), Bytes: len(data), Object: "file", CreatedAt: time.Now().Unix()}, key: key, data: data}
		b.counts.Uploads++
		writeJSON(w, b.files[id].file)
	case parts[0] == "files" && len(parts) == 1:
		var list openai.FilesList
		for _, f := range b.files {
			if f.key == key {
				list.Files = append(list.Files, f.file)
			}
		}
		writeJSON(w, list)
	case parts[0] == "files" && len(parts) == 2 && r.Method == http.MethodDelete:
		delete(b.files, parts[1])
		b.counts.Deleted++
		writeJSON(w, map[string]any{"id": parts[1], "deleted": true})
	case parts[0] == "files" && len(parts) == 3 && parts[2] == "content":
		f, ok := b.files[parts[1]]
		if !ok || f.key != key {
			writeErr(w, http.StatusNotFound, "No such File object: "+parts[1], "")
			return
		}
		_, _ = w.Write(f.data)
	case parts[0] == "batches" && len(parts) == 1 && r.Method == http.MethodPost:
		var req openai.CreateBatchRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeErr(w, http.StatusBadRequest, "bad json", "")
			return
		}
		if f, ok := b.files[req.InputFileID]; !ok || f.key != key {
			writeErr(w, http.StatusBadRequest, "No such file: "+req.InputFileID, "")
			return
		}
		id := fmt.Sprintf("batch_%d", len(b.batches)+1)
		fb := &fakeBatch{key: key, created: time.Now(), batch: openai.Batch{ID: id, Object: "batch", Endpoint: req.Endpoint,
			InputFileID: req.InputFileID, CompletionWindow: req.CompletionWindow, Status: "in_progress", CreatedAt: int(time.Now().Unix()), Metadata: req.Metadata}}
		b.batches[id] = fb
		b.order = append(b.order, id)
		b.counts.Batches++
		writeJSON(w, fb.batch)
	case parts[0] == "batches" && len(parts) == 1:
		var list openai.ListBatchResponse
		list.Object = "list"
		for i := len(b.order) - 1; i >= 0; i-- {
			if fb := b.batches[b.order[i]]; fb.key == key {
				s.settle(fb)
				list.Data = append(list.Data, fb.batch)
			}
		}
		writeJSON(w, list)
	case parts[0] == "batches" && len(parts) >= 2:
		fb, ok := b.batches[parts[1]]
		if !ok || fb.key != key {
			writeErr(w, http.StatusNotFound, "No batch found with id '"+parts[1]+"'.", "")
			return
		}
		if len(parts) == 3 && parts[2] == "cancel" && !fb.ended {
			fb.ended, fb.batch.Status = true, "cancelled"
			b.counts.Cancelled++
			s.endBatch(fb, true)
		}
		s.settle(fb)
		writeJSON(w, fb.batch)
	default:
		writeErr(w, http.StatusNotFound, "not found", "")
	}
}

// settle ends a batch whose time has come; s.mu is held.
func (s *Server) settle(fb *fakeBatch) {
	if fb.ended || time.Since(fb.created) < s.BatchDelay {
		return
	}
	fb.ended = true
	s.endBatch(fb, false)
}

// endBatch answers the lines of a batch (none when cancelled) into its output and error files.
func (s *Server) endBatch(fb *fakeBatch, cancelled bool) {
	b := &s.batchAPI
	in := b.files[fb.batch.InputFileID]
	var out, errs bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(in.data))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	expired, line := false, 0
	var invalid []string
	for sc.Scan() {
		line++
		var l openai.BatchChatCompletionRequest
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.CustomID == "" || (s.BatchInvalid && line == 1) {
			invalid = append(invalid, fmt.Sprint(line))
			continue
		}
		b.counts.Lines++
		b.counts.Sends[l.CustomID]++
		fb.batch.RequestCounts.Total++
		switch {
		case cancelled:
			writeLine(&errs, l.CustomID, nil, "batch_cancelled", "This request was cancelled")
			fb.batch.RequestCounts.Failed++
		case b.fails < s.BatchFail:
			b.fails++
			writeLine(&errs, l.CustomID, map[string]any{"status_code": 500, "body": map[string]any{"error": map[string]any{"message": "The server had an error"}}}, "", "")
			fb.batch.RequestCounts.Failed++
		case b.expires < s.BatchExpire:
			b.expires++
			expired = true
			writeLine(&errs, l.CustomID, nil, "batch_expired", "This request could not be executed before the completion window expired.")
			fb.batch.RequestCounts.Failed++
		default:
			content, completion := s.content(l.Body)
			prompt := promptTokens(l.Body)
			resp := openai.ChatCompletionResponse{ID: "chatcmpl-batch", Object: "chat.completion", Created: time.Now().Unix(), Model: l.Body.Model,
				Choices: []openai.ChatCompletionChoice{{Message: openai.ChatCompletionMessage{Role: "assistant", Content: content}, FinishReason: "stop"}},
				Usage:   openai.Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}}
			writeLine(&out, l.CustomID, map[string]any{"status_code": 200, "body": resp}, "", "")
			b.counts.Answered++
			fb.batch.RequestCounts.Completed++
		}
	}
	now := int(time.Now().Unix())
	if len(invalid) > 0 {
		fb.batch.Status, fb.batch.FailedAt = "failed", &now
		fb.batch.Errors = &struct {
			Object string `json:"object,omitempty"`
			Data   []struct {
				Code    string  `json:"code,omitempty"`
				Message string  `json:"message,omitempty"`
				Param   *string `json:"param,omitempty"`
				Line    *int    `json:"line,omitempty"`
			} `json:"data"`
		}{Object: "list"}
		sort.Strings(invalid)
		for _, n := range invalid {
			var ln int
			fmt.Sscan(n, &ln)
			fb.batch.Errors.Data = append(fb.batch.Errors.Data, struct {
				Code    string  `json:"code,omitempty"`
				Message string  `json:"message,omitempty"`
				Param   *string `json:"param,omitempty"`
				Line    *int    `json:"line,omitempty"`
			}{Code: "invalid_json_line", Message: "This line is not parseable as valid JSON.", Line: &ln})
		}
		return
	}
	switch {
	case cancelled:
		fb.batch.Status, fb.batch.CancelledAt = "cancelled", &now
	case expired:
		fb.batch.Status, fb.batch.ExpiredAt = "expired", &now
	default:
		fb.batch.Status, fb.batch.CompletedAt = "completed", &now
	}
	for _, f := range []struct {
		buf *bytes.Buffer
		dst **string
	}{{&out, &fb.batch.OutputFileID}, {&errs, &fb.batch.ErrorFileID}} {
		if f.buf.Len() == 0 {
			continue
		}
		id := fmt.Sprintf("file-%d", len(b.files)+1)
		b.files[id] = &fakeFile{file: openai.File{ID: id, FileName: id + ".jsonl", Purpose: "batch_output", Bytes: f.buf.Len()}, key: fb.key, data: f.buf.Bytes()}
		*f.dst = &id
	}
}

func writeLine(w *bytes.Buffer, customID string, response map[string]any, code, msg string) {
	l := map[string]any{"id": "batch_req_" + customID, "custom_id": customID, "response": response, "error": nil}
	if code != "" {
		l["error"] = map[string]any{"code": code, "message": msg}
	}
	b, _ := json.Marshal(l)
	w.Write(b)
	w.WriteByte('\n')
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
