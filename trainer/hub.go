package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// DefaultHubEndpoint is the Hugging Face Hub; HF_ENDPOINT overrides it, as in huggingface_hub.
const DefaultHubEndpoint = "https://huggingface.co"

// IsLocalModel reports whether base names a directory rather than a Hub model id.
func IsLocalModel(base string) bool {
	return strings.HasPrefix(base, "/") || strings.HasPrefix(base, "./") || strings.HasPrefix(base, "../") || strings.HasPrefix(base, "~")
}

// ModelSize returns how many bytes the box downloads for a Hub model: its *.safetensors files, or
// its PyTorch weight files (*.bin, *.pt, *.pth) when it has none, plus nothing for the small config
// and tokenizer files. endpoint is the Hub's base URL (HF_ENDPOINT; DefaultHubEndpoint when empty);
// token, when set, reaches gated models.
func ModelSize(ctx context.Context, client *http.Client, endpoint, model, token string) (int64, error) {
	if endpoint == "" {
		endpoint = DefaultHubEndpoint
	}
	if client == nil {
		client = http.DefaultClient
	}
	u := strings.TrimRight(endpoint, "/") + "/api/models/" + (&url.URL{Path: model}).EscapedPath() + "/revision/main?blobs=true"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, fmt.Errorf("size of model %s: %w", model, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("size of model %s: %w", model, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return 0, fmt.Errorf("size of model %s: the Hub refused (%s): a gated or private model needs HF_TOKEN", model, resp.Status)
	case resp.StatusCode == http.StatusNotFound:
		return 0, fmt.Errorf("size of model %s: not on the Hub (%s): check --base-model", model, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return 0, fmt.Errorf("size of model %s: the Hub answered %s", model, resp.Status)
	}
	var info struct {
		Siblings []struct {
			Name string `json:"rfilename"`
			Size *int64 `json:"size"`
		} `json:"siblings"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&info); err != nil {
		return 0, fmt.Errorf("size of model %s: read the Hub's answer: %w", model, err)
	}
	var safetensors, torch int64
	sized := false
	for _, s := range info.Siblings {
		if s.Size == nil {
			continue
		}
		sized = true
		switch {
		case strings.HasSuffix(s.Name, ".safetensors"):
			safetensors += *s.Size
		case strings.HasSuffix(s.Name, ".bin") || strings.HasSuffix(s.Name, ".pt") || strings.HasSuffix(s.Name, ".pth"):
			torch += *s.Size
		}
	}
	if !sized {
		return 0, errors.New("size of model " + model + ": the Hub listed no file sizes")
	}
	if safetensors > 0 {
		return safetensors, nil
	}
	return torch, nil
}
