package trainer

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestModelSizeCountsTheWeightsTheBoxDownloads(t *testing.T) {
	var auth, path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth, path = r.Header.Get("Authorization"), r.URL.Path
		switch r.URL.Path {
		case "/api/models/Qwen/Qwen2.5-0.5B-Instruct/revision/main":
			w.Write([]byte(`{"siblings":[{"rfilename":"config.json","size":659},{"rfilename":"model.safetensors","size":988097824},
				{"rfilename":"pytorch_model.bin","size":988199999},{"rfilename":"tokenizer.json","size":7031645}]}`))
		case "/api/models/old/bin-only/revision/main":
			w.Write([]byte(`{"siblings":[{"rfilename":"pytorch_model-00001-of-00002.bin","size":1000},{"rfilename":"pytorch_model-00002-of-00002.bin","size":500}]}`))
		case "/api/models/meta-llama/gated/revision/main":
			w.WriteHeader(http.StatusUnauthorized)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	if n, err := ModelSize(ctx, srv.Client(), srv.URL, "Qwen/Qwen2.5-0.5B-Instruct", "hf_x"); err != nil || n != 988097824 {
		t.Errorf("ModelSize(safetensors model) = %d, %v; want the safetensors file alone", n, err)
	}
	if auth != "Bearer hf_x" || !strings.HasPrefix(path, "/api/models/") {
		t.Errorf("request path %q, auth %q; want the token as a bearer", path, auth)
	}
	if n, err := ModelSize(ctx, srv.Client(), srv.URL, "old/bin-only", ""); err != nil || n != 1500 {
		t.Errorf("ModelSize(.bin shards) = %d, %v; want 1500", n, err)
	}
	if _, err := ModelSize(ctx, srv.Client(), srv.URL, "meta-llama/gated", ""); err == nil || !strings.Contains(err.Error(), "needs HF_TOKEN") {
		t.Errorf("ModelSize(gated) = %v, want a hint about HF_TOKEN", err)
	}
	if _, err := ModelSize(ctx, srv.Client(), srv.URL, "no/such", ""); err == nil || !strings.Contains(err.Error(), "check --base-model") {
		t.Errorf("ModelSize(missing) = %v", err)
	}
}
