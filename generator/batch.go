package generator

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	openai "github.com/sashabaranov/go-openai"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/prompts"
)

// BatchDiscount is the Batch API's price as a share of the online price.
const BatchDiscount = 0.5

// ErrNoBatchAPI is returned when the server answers 404 on the Batch endpoints (vLLM, Ollama).
var ErrNoBatchAPI = errors.New("this server has no Batch API: run without --batch")

// errResend tells a waiting request that its line came back without an answer and goes out again.
var errResend = errors.New("batch line failed")

// maxSends is how many times one line is sent before its slot counts as failed for this attempt.
const maxSends = 5

// Batcher sends the chat requests of a run's slots through the provider's Files and Batches
// endpoints instead of one by one. Requests are gathered while slots ask (until Linger passes with
// no new one, or MaxLines are waiting), written to a JSONL file on disk and uploaded from it,
// polled, and answered from the output file read line by line. Every provider call is preceded and
// followed by a write to the store (batches, batch_lines), so a process killed at any moment is
// continued by Start without a batch made twice; an answer is stored as a step the moment it is read,
// and a line that came back without one (5xx, batch_expired, cancelled) is sent again, alone.
type Batcher struct {
	Client  *openai.Client
	HTTP    *http.Client // for the streamed upload
	BaseURL string       // as the client uses it, ending in /v1
	APIKey  string       // sent, never stored
	Store   *corpus.Store
	Run     *corpus.Run
	Schema  *prompts.Schema
	Price   Price // the batch price
	// MaxLines is the most lines in one batch (OpenAI allows 50,000).
	MaxLines int
	Linger   time.Duration
	Poll     time.Duration
	Dir      string // where input files are written before upload
	Log      zerolog.Logger
	Now      func() time.Time
	// Spent returns what the run's outcomes cost so far; --max-cost is checked against it plus the
	// estimates of the batches not yet read.
	Spent func() float64
	// OnSubmit, when set, is called after each batch is submitted with the number of requests still
	// waiting to go out.
	OnSubmit func(b *corpus.Batch, queued int)

	mu       sync.Mutex
	queue    []*batchItem
	timer    *time.Timer
	waiters  map[string]chan batchResult
	active   map[string]*corpus.Batch // submitted, not yet read
	open     float64                  // estimates of the active batches
	fatal    error
	flushing sync.WaitGroup
	sent     int // lines this process sent
}

type batchItem struct {
	line corpus.BatchLine
	req  ChatRequest
}

type batchResult struct {
	res ChatResult
	err error
}

// NewBatcher returns a Batcher for one run with default timings.
func NewBatcher(cfg LLMConfig, st *corpus.Store, run *corpus.Run, schema *prompts.Schema, price Price, log zerolog.Logger) *Batcher {
	oc := openai.DefaultConfig(cfg.APIKey)
	if cfg.BaseURL != "" {
		oc.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Minute}
	}
	oc.HTTPClient = hc
	return &Batcher{
		Client: openai.NewClientWithConfig(oc), HTTP: hc, BaseURL: oc.BaseURL, APIKey: cfg.APIKey,
		Store: st, Run: run, Schema: schema, Price: price, MaxLines: 50000,
		Linger: time.Second, Poll: 30 * time.Second, Dir: os.TempDir(), Log: log, Now: time.Now,
		waiters: map[string]chan batchResult{}, active: map[string]*corpus.Batch{},
	}
}

// KeyFingerprint names an API key without revealing it.
func KeyFingerprint(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:6])
}

// Sent returns how many request lines this process sent.
func (b *Batcher) Sent() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sent
}

// Start checks that the server has a Batch API, takes up the run's unfinished batches (a file
// uploaded without its batch is submitted, a batch created but never recorded is found by its
// file, lines recorded but never uploaded are sent again), and polls until ctx ends.
func (b *Batcher) Start(ctx context.Context) error {
	one := 1
	if _, err := b.Client.ListBatch(ctx, nil, &one); err != nil {
		if apiStatus(err) == http.StatusNotFound {
			return ErrNoBatchAPI
		}
		return fmt.Errorf("reach the Batch API at %s: %w", b.BaseURL, err)
	}
	batches, err := b.Store.RunBatches(ctx, b.Run.ID)
	if err != nil {
		return err
	}
	for i := range batches {
		bt := &batches[i]
		switch bt.State {
		case corpus.BatchCreated:
			if err := b.abandon(ctx, bt); err != nil {
				return err
			}
		case corpus.BatchUploaded:
			if err := b.submit(ctx, bt); err != nil {
				return err
			}
			b.track(bt)
		case corpus.BatchSubmitted:
			b.track(bt)
		}
	}
	go b.poll(ctx)
	return nil
}

func (b *Batcher) track(bt *corpus.Batch) {
	b.mu.Lock()
	b.active[bt.ID] = bt
	b.open += bt.EstCost
	b.mu.Unlock()
}

// abandon deals with a batch whose file may have reached the provider without its ID being stored:
// the file is found by name and deleted; its lines go out again in another batch.
func (b *Batcher) abandon(ctx context.Context, bt *corpus.Batch) error {
	files, err := b.Client.ListFiles(ctx)
	if err != nil {
		return fmt.Errorf("list files to find %s: %w", bt.FileName, err)
	}
	for _, f := range files.Files {
		if f.FileName == bt.FileName {
			if err := b.Client.DeleteFile(ctx, f.ID); err != nil {
				return fmt.Errorf("delete file %s of an unsubmitted batch: %w", f.ID, err)
			}
			b.Log.Info().Str("file", f.ID).Msg("deleted a file uploaded without its batch")
		}
	}
	bt.State, bt.UpdatedAt = corpus.BatchAbandoned, b.Now().UTC()
	return b.Store.PutBatch(ctx, bt)
}

// submit creates the provider batch of an uploaded file, unless one exists already (made before a
// crash that lost its ID), and stores its ID.
func (b *Batcher) submit(ctx context.Context, bt *corpus.Batch) error {
	var after *string
	limit := 100
	for page := 0; page < 50; page++ {
		list, err := b.Client.ListBatch(ctx, after, &limit)
		if err != nil {
			return fmt.Errorf("list batches to find the one of file %s: %w", bt.InputFileID, err)
		}
		for _, x := range list.Data {
			if x.InputFileID == bt.InputFileID {
				bt.BatchID, bt.Status = x.ID, x.Status
			}
		}
		if bt.BatchID != "" || !list.HasMore || list.LastID == "" {
			break
		}
		after = &list.LastID
	}
	if bt.BatchID == "" {
		res, err := b.Client.CreateBatch(ctx, openai.CreateBatchRequest{
			InputFileID: bt.InputFileID, Endpoint: openai.BatchEndpointChatCompletions, CompletionWindow: "24h",
			Metadata: map[string]any{"correctly_run": b.Run.ID, "correctly_batch": bt.ID},
		})
		if err != nil {
			return fmt.Errorf("create batch of file %s: %w", bt.InputFileID, b.explain(err, bt))
		}
		bt.BatchID, bt.Status = res.ID, res.Status
	}
	bt.State, bt.UpdatedAt = corpus.BatchSubmitted, b.Now().UTC()
	return b.Store.PutBatch(context.WithoutCancel(ctx), bt)
}

// Chat asks for one completion through a batch: the answer stored under the line's custom_id if
// there is one, the batch the line was sent in if it is still out, a new line otherwise. It waits
// until the answer is read, ctx ends, or the run must stop.
func (b *Batcher) Chat(ctx context.Context, line corpus.BatchLine, req ChatRequest) (ChatResult, error) {
	ch := make(chan batchResult, 1)
	b.mu.Lock()
	if b.fatal != nil {
		b.mu.Unlock()
		return ChatResult{}, b.fatal
	}
	b.waiters[line.ID] = ch
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		if b.waiters[line.ID] == ch {
			delete(b.waiters, line.ID)
		}
		b.mu.Unlock()
	}()
	// registered first, read second: an answer stored meanwhile is seen here or delivered to ch
	if res, ok, err := b.stored(ctx, line); err != nil || ok {
		return res, err
	}
	prev, err := b.Store.GetBatchLine(ctx, line.ID)
	switch {
	case errors.Is(err, corpus.ErrNotFound):
		line.Sends = 1
		b.enqueue(line, req)
	case err != nil:
		return ChatResult{}, err
	case prev.Failed || !b.outstanding(prev.Batch):
		line.Sends = prev.Sends + 1
		b.enqueue(line, req)
	default:
		line.Sends = prev.Sends // out in a batch being polled: wait for it
	}
	for {
		select {
		case <-ctx.Done():
			return ChatResult{}, ctx.Err()
		case r := <-ch:
			if !errors.Is(r.err, errResend) {
				return r.res, r.err
			}
			if line.Sends >= maxSends {
				return ChatResult{}, &TransientError{Err: fmt.Errorf("batch line %s came back without an answer %d times", line.ID, line.Sends)}
			}
			line.Sends++
			b.mu.Lock()
			b.waiters[line.ID] = ch
			b.mu.Unlock()
			b.enqueue(line, req)
		}
	}
}

// outstanding reports whether a batch is being polled (or about to be, once submitted).
func (b *Batcher) outstanding(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.active[id]
	return ok
}

// stored returns the answer already stored for a line.
func (b *Batcher) stored(ctx context.Context, line corpus.BatchLine) (ChatResult, bool, error) {
	steps, err := b.Store.SlotSteps(ctx, line.RunID, line.Slot)
	if err != nil {
		return ChatResult{}, false, err
	}
	for _, s := range steps {
		if s.ID == line.ID {
			return ChatResult{Content: s.Raw, Model: s.Model, Usage: s.Usage}, true, nil
		}
	}
	return ChatResult{}, false, nil
}

func (b *Batcher) enqueue(line corpus.BatchLine, req ChatRequest) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.queue = append(b.queue, &batchItem{line: line, req: req})
	if len(b.queue) >= b.MaxLines {
		items := b.queue
		b.queue = nil
		b.flushing.Add(1)
		go func() { defer b.flushing.Done(); b.flush(items) }()
		return
	}
	if b.timer == nil {
		b.timer = time.AfterFunc(b.Linger, b.flushQueued)
	} else {
		b.timer.Reset(b.Linger)
	}
}

func (b *Batcher) flushQueued() {
	b.mu.Lock()
	items := b.queue
	b.queue = nil
	b.flushing.Add(1)
	b.mu.Unlock()
	defer b.flushing.Done()
	if len(items) > 0 {
		b.flush(items)
	}
}

// fail answers the waiters of items with err.
func (b *Batcher) fail(items []*batchItem, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, it := range items {
		if ch, ok := b.waiters[it.line.ID]; ok {
			delete(b.waiters, it.line.ID)
			ch <- batchResult{err: err}
		}
	}
}

// stop makes err the answer of every waiting request and of every later one.
func (b *Batcher) stop(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fatal == nil {
		b.fatal = err
	}
	for id, ch := range b.waiters {
		delete(b.waiters, id)
		ch <- batchResult{err: err}
	}
}

// flush sends items as one batch: lines recorded, file written and uploaded, batch created, each
// step stored before the next provider call.
func (b *Batcher) flush(items []*batchItem) {
	ctx := context.Background() // a batch half made is finished even while the run stops
	est := 0.0
	for _, it := range items {
		est += b.Price.Cost(EstimateTokens(it.req.System)+EstimateTokens(it.req.User), max(it.req.MaxTokens/3, 150))
	}
	if limit := b.Run.Settings.MaxCost; limit > 0 {
		b.mu.Lock()
		open := b.open
		b.mu.Unlock()
		spent := 0.0
		if b.Spent != nil {
			spent = b.Spent()
		}
		if spent+open+est > limit {
			b.fail(items, fmt.Errorf("a batch of %d requests, estimated at $%.4f, would take the run past its $%.2f cap ($%.4f spent, $%.4f in batches out): %w",
				len(items), est, limit, spent, open, ErrBudget))
			return
		}
	}
	now := b.Now().UTC()
	id := fmt.Sprintf("%s-%s-%04x", b.Run.ID, now.Format("150405.000"), rand.Uint32()&0xffff)
	bt := &corpus.Batch{ID: id, RunID: b.Run.ID, State: corpus.BatchCreated, FileName: "correctly-" + id + ".jsonl",
		BaseURL: b.BaseURL, KeyFingerprint: KeyFingerprint(b.APIKey), Lines: len(items), EstCost: est, CreatedAt: now, UpdatedAt: now}
	if err := b.send(ctx, bt, items); err != nil {
		b.Log.Error().Err(err).Str("batch", bt.ID).Msg("send batch")
		var fe *FatalError
		if errors.As(err, &fe) || errors.Is(err, ErrNoBatchAPI) {
			b.stop(err)
			return
		}
		b.fail(items, &TransientError{Err: err})
		return
	}
	b.mu.Lock()
	b.sent += len(items)
	queued := len(b.queue)
	b.mu.Unlock()
	b.Log.Info().Str("batch", bt.BatchID).Int("lines", bt.Lines).Float64("est_cost", est).Msg("batch submitted")
	if b.OnSubmit != nil {
		b.OnSubmit(bt, queued)
	}
}

func (b *Batcher) send(ctx context.Context, bt *corpus.Batch, items []*batchItem) error {
	if err := b.Store.PutBatch(ctx, bt); err != nil {
		return err
	}
	lines := make([]corpus.BatchLine, len(items))
	for i, it := range items {
		lines[i] = it.line
		lines[i].Batch, lines[i].Failed, lines[i].CreatedAt = bt.ID, false, bt.CreatedAt
	}
	if err := b.Store.PutBatchLines(ctx, lines); err != nil {
		return err
	}
	path := filepath.Join(b.Dir, bt.FileName)
	if err := writeBatchFile(path, items); err != nil {
		return err
	}
	defer os.Remove(path)
	f, err := b.upload(ctx, path, bt.FileName)
	if err != nil {
		return fmt.Errorf("upload %s: %w", bt.FileName, b.explain(err, bt))
	}
	bt.InputFileID, bt.State, bt.UpdatedAt = f, corpus.BatchUploaded, b.Now().UTC()
	if err := b.Store.PutBatch(ctx, bt); err != nil {
		return err
	}
	b.track(bt) // from here on a line of it waits for it, and the budget counts it
	if err := b.submit(ctx, bt); err != nil {
		b.mu.Lock()
		delete(b.active, bt.ID)
		b.open -= bt.EstCost
		b.mu.Unlock()
		// its lines go out again in another batch: this file must never become a batch
		if derr := b.Client.DeleteFile(ctx, bt.InputFileID); derr != nil {
			b.Log.Warn().Err(derr).Str("file", bt.InputFileID).Msg("delete the file of a batch not created")
		}
		bt.State, bt.UpdatedAt = corpus.BatchAbandoned, b.Now().UTC()
		if perr := b.Store.PutBatch(ctx, bt); perr != nil {
			b.Log.Warn().Err(perr).Msg("record an abandoned batch")
		}
		return err
	}
	return nil
}

// writeBatchFile writes the JSONL input of items, one request a line, through a buffer.
func writeBatchFile(path string, items []*batchItem) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write batch file: %w", err)
	}
	w := bufio.NewWriterSize(f, 256<<10)
	enc := json.NewEncoder(w)
	for _, it := range items {
		creq, err := chatCompletion(it.req)
		if err != nil {
			f.Close()
			return err
		}
		if err := enc.Encode(openai.BatchChatCompletionRequest{CustomID: it.line.ID, Method: http.MethodPost,
			URL: openai.BatchEndpointChatCompletions, Body: creq}); err != nil {
			f.Close()
			return fmt.Errorf("write batch file: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write batch file: %w", err)
	}
	return f.Close()
}

// upload sends a file with purpose batch, streamed from disk (go-openai's CreateFile holds the whole
// form in memory), and returns its ID.
func (b *Batcher) upload(ctx context.Context, path, name string) (string, error) {
	src, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer src.Close()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := mw.WriteField("purpose", "batch")
		if err == nil {
			var part io.Writer
			if part, err = mw.CreateFormFile("file", name); err == nil {
				_, err = io.Copy(part, src)
			}
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.BaseURL+"/files", pr)
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if b.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+b.APIKey)
	}
	resp, err := b.HTTP.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		var e openai.ErrorResponse
		apiErr := &openai.APIError{HTTPStatusCode: resp.StatusCode, Message: strings.TrimSpace(string(body))}
		if json.Unmarshal(body, &e) == nil && e.Error != nil {
			apiErr = e.Error
			apiErr.HTTPStatusCode = resp.StatusCode
		}
		return "", apiErr
	}
	var f openai.File
	if err := json.Unmarshal(body, &f); err != nil || f.ID == "" {
		return "", fmt.Errorf("the server's answer to a file upload has no file id: %.200s", body)
	}
	return f.ID, nil
}

// explain turns the provider's errors on a batch into what a user can act on.
func (b *Batcher) explain(err error, bt *corpus.Batch) error {
	switch status := apiStatus(err); {
	case status == http.StatusNotFound && bt.BatchID == "":
		return ErrNoBatchAPI
	case status == http.StatusNotFound:
		return &FatalError{Status: status, Msg: fmt.Sprintf("no such batch %s at %s: it was made with the key of fingerprint %s, and the key in use has fingerprint %s; set OPENAI_API_KEY to the key (and project) that made it, then resume",
			bt.BatchID, bt.BaseURL, bt.KeyFingerprint, KeyFingerprint(b.APIKey))}
	case isFatal(status):
		return &FatalError{Status: status, Msg: apiMessage(err)}
	}
	return err
}

func apiStatus(err error) int {
	var apiErr *openai.APIError
	var reqErr *openai.RequestError
	switch {
	case errors.As(err, &apiErr):
		return apiErr.HTTPStatusCode
	case errors.As(err, &reqErr):
		return reqErr.HTTPStatusCode
	}
	return 0
}

// poll looks at the active batches every Poll and reads those that ended.
func (b *Batcher) poll(ctx context.Context) {
	t := time.NewTicker(b.Poll)
	defer t.Stop()
	for {
		b.mu.Lock()
		active := make([]*corpus.Batch, 0, len(b.active))
		for _, bt := range b.active {
			active = append(active, bt)
		}
		b.mu.Unlock()
		for _, bt := range active {
			if ctx.Err() != nil {
				return
			}
			if err := b.check(ctx, bt); err != nil && ctx.Err() == nil {
				var fe *FatalError
				if errors.As(err, &fe) {
					b.stop(err)
					return
				}
				b.Log.Warn().Err(err).Str("batch", bt.BatchID).Msg("poll batch; will try again")
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check retrieves one batch, stores its progress, and reads it once it has ended.
func (b *Batcher) check(ctx context.Context, bt *corpus.Batch) error {
	res, err := b.Client.RetrieveBatch(ctx, bt.BatchID)
	if err != nil {
		return b.explain(err, bt)
	}
	changed := res.Status != bt.Status || res.RequestCounts.Completed != bt.Completed || res.RequestCounts.Failed != bt.Failed
	bt.Status, bt.Completed, bt.Failed = res.Status, res.RequestCounts.Completed, res.RequestCounts.Failed
	if changed {
		bt.UpdatedAt = b.Now().UTC()
		if err := b.Store.PutBatch(ctx, bt); err != nil {
			return err
		}
		b.Log.Info().Str("batch", bt.BatchID).Str("status", res.Status).Int("completed", bt.Completed).Int("failed", bt.Failed).
			Int("lines", bt.Lines).Str("age", b.Now().Sub(bt.CreatedAt).Round(time.Second).String()).Msg("batch progress")
	}
	switch res.Status {
	case "completed", "expired", "cancelled":
	case "failed":
		var msgs []string
		if res.Errors != nil {
			for _, e := range res.Errors.Data {
				where := ""
				if e.Line != nil {
					where = fmt.Sprintf("line %d: ", *e.Line)
				}
				msgs = append(msgs, fmt.Sprintf("%s%s (%s)", where, e.Message, e.Code))
			}
		}
		bt.Error = strings.Join(msgs, "; ")
		if err := b.finish(ctx, bt, nil); err != nil {
			return err
		}
		return &FatalError{Status: http.StatusBadRequest, Msg: fmt.Sprintf("batch %s failed validation: %s", bt.BatchID, bt.Error)}
	default:
		return nil
	}
	answered := map[string]bool{}
	for _, fileID := range []*string{res.OutputFileID, res.ErrorFileID} {
		if fileID == nil || *fileID == "" {
			continue
		}
		if err := b.read(ctx, *fileID, answered); err != nil {
			return err
		}
	}
	return b.finish(ctx, bt, answered)
}

// batchOutputLine is one line of an output or error file.
type batchOutputLine struct {
	CustomID string `json:"custom_id"`
	Response *struct {
		StatusCode int                           `json:"status_code"`
		Body       openai.ChatCompletionResponse `json:"body"`
	} `json:"response"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// read streams an output or error file, a chunk of lines at a time: each chunk's answers are
// stored as their steps in one write, then handed to their waiters.
func (b *Batcher) read(ctx context.Context, fileID string, answered map[string]bool) error {
	raw, err := b.Client.GetFileContent(ctx, fileID)
	if err != nil {
		return fmt.Errorf("read file %s: %w", fileID, err)
	}
	defer raw.Close()
	r := bufio.NewReaderSize(raw, 256<<10)
	var chunk []batchOutputLine
	for {
		data, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(data)) > 0 {
			var l batchOutputLine
			if jerr := json.Unmarshal(data, &l); jerr != nil {
				return fmt.Errorf("read file %s: a line is not JSON: %w", fileID, jerr)
			}
			if l.Response != nil && l.Response.StatusCode == http.StatusOK && len(l.Response.Body.Choices) > 0 {
				chunk = append(chunk, l)
			}
		}
		if len(chunk) >= 500 || (err != nil && len(chunk) > 0) {
			if serr := b.answer(ctx, chunk, answered); serr != nil {
				return serr
			}
			chunk = chunk[:0]
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read file %s: %w", fileID, err)
		}
	}
}

// answer stores answers as the steps they were asked for and hands them to their waiters.
func (b *Batcher) answer(ctx context.Context, ls []batchOutputLine, answered map[string]bool) error {
	ids := make([]string, len(ls))
	for i, l := range ls {
		ids[i] = l.CustomID
	}
	known, err := b.Store.BatchLinesByID(ctx, ids)
	if err != nil {
		return err
	}
	steps := make([]*corpus.Step, 0, len(ls))
	results := make([]ChatResult, 0, len(ls))
	for _, l := range ls {
		line, ok := known[l.CustomID]
		if !ok {
			b.Log.Warn().Str("custom_id", l.CustomID).Msg("an answer to a line this run did not send: ignored")
			continue
		}
		body := l.Response.Body
		res := ChatResult{Content: body.Choices[0].Message.Content, Model: body.Model,
			Usage: corpus.Usage{PromptTokens: body.Usage.PromptTokens, CompletionTokens: body.Usage.CompletionTokens}}
		step := &corpus.Step{ID: line.ID, RunID: line.RunID, Slot: line.Slot, Step: line.Step, Try: line.Try,
			Model: res.Model, Raw: res.Content, Usage: res.Usage, CreatedAt: b.Now().UTC()}
		if b.Schema != nil {
			for i := range b.Schema.Steps {
				if st := &b.Schema.Steps[i]; st.Name == line.Step {
					fields, perr := st.Output.Parse(res.Content)
					if perr != nil {
						step.ParseError = perr.Error()
					} else {
						step.Fields = fields
					}
				}
			}
		}
		steps = append(steps, step)
		results = append(results, res)
	}
	if err := b.Store.AddSteps(ctx, steps); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, st := range steps {
		answered[st.ID] = true
		if ch, ok := b.waiters[st.ID]; ok {
			delete(b.waiters, st.ID)
			ch <- batchResult{res: results[i]}
		}
	}
	return nil
}

// finish marks the lines of an ended batch that came back without an answer, sends their waiters to
// send them again, and records the batch as read.
func (b *Batcher) finish(ctx context.Context, bt *corpus.Batch, answered map[string]bool) error {
	var failed []string
	err := b.Store.EachBatchLine(ctx, b.Run.ID, bt.ID, func(l *corpus.BatchLine) error {
		if !answered[l.ID] {
			failed = append(failed, l.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := b.Store.FailBatchLines(ctx, failed); err != nil {
		return err
	}
	bt.State, bt.Answered, bt.UpdatedAt = corpus.BatchDone, len(answered), b.Now().UTC()
	if err := b.Store.PutBatch(ctx, bt); err != nil {
		return err
	}
	b.mu.Lock()
	delete(b.active, bt.ID)
	b.open -= bt.EstCost
	var chans []chan batchResult
	for _, id := range failed {
		// a batch that failed validation stops the run (its waiters hear why from stop)
		if ch, ok := b.waiters[id]; ok && bt.Error == "" {
			delete(b.waiters, id)
			chans = append(chans, ch)
		}
	}
	b.mu.Unlock()
	for _, ch := range chans {
		ch <- batchResult{err: errResend}
	}
	if len(failed) > 0 {
		b.Log.Info().Str("batch", bt.BatchID).Int("failed", len(failed)).Str("status", bt.Status).Msg("lines without an answer go out again")
	}
	return nil
}

// Wait waits for batches being made to be submitted (or to fail).
func (b *Batcher) Wait() { b.flushing.Wait() }

// CancelBatches cancels a run's batches still out at the provider and returns how many it cancelled.
func CancelBatches(ctx context.Context, cfg LLMConfig, st *corpus.Store, runID string) (int, error) {
	bs, err := st.RunBatches(ctx, runID)
	if err != nil {
		return 0, err
	}
	b := NewBatcher(cfg, st, &corpus.Run{ID: runID}, nil, Price{}, zerolog.Nop())
	n := 0
	for i := range bs {
		bt := &bs[i]
		if bt.State != corpus.BatchSubmitted {
			continue
		}
		res, err := b.Client.CancelBatch(ctx, bt.BatchID)
		if err != nil {
			return n, fmt.Errorf("cancel batch %s: %w", bt.BatchID, b.explain(err, bt))
		}
		bt.Status, bt.UpdatedAt = res.Status, time.Now().UTC()
		if err := st.PutBatch(ctx, bt); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
