package llm_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/triagem/triagem"
	"github.com/triagem/triagem/classify"
	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/llm"
	"github.com/triagem/triagem/llm/llmtest"
)

func client(t *testing.T, url string, timeout time.Duration) *llm.Client {
	t.Helper()
	cfg, err := config.Parse("embedded", triagem.DefaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.LLM = config.LLM{Mode: "unsure", BaseURL: url, Model: "test-model", Timeout: config.Duration{Duration: timeout}, MinConfidence: 0.7, MaxChars: 4000}
	c, err := llm.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var mail = classify.Input{
	Subject: "Cobrança a dobrar",
	NewText: "Fui cobrado duas vezes. NIF 234 567 899, telemóvel +351 912 345 678, email ana.lopes@example.pt, ver https://phish.example/x",
}

func answer(content string) func(llmtest.Request) llmtest.Reply {
	return func(llmtest.Request) llmtest.Reply { return llmtest.Reply{Content: content} }
}

func TestAskGoesThroughTheClientWithASchemaAndRedactedText(t *testing.T) {
	srv := llmtest.Start(t, answer(`{"category":"refund","confidence":0.92}`))
	op := client(t, srv.URL, 2*time.Second).Ask(context.Background(), mail)
	if op.Error != "" || op.Category != "refund" || op.Confidence != 0.92 {
		t.Fatalf("opinion = %+v, want refund 0.92", op)
	}
	if op.Model != "test-model" || len(op.PromptHash) != 64 || op.Raw != `{"category":"refund","confidence":0.92}` {
		t.Errorf("trace fields: %+v", op)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Model != "test-model" || r.ResponseFormat.Type != "json_schema" || !r.ResponseFormat.JSONSchema.Strict {
		t.Errorf("request model %q, response_format %+v", r.Model, r.ResponseFormat)
	}
	var schema struct {
		Properties struct {
			Category struct {
				Enum []string `json:"enum"`
			} `json:"category"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(r.ResponseFormat.JSONSchema.Schema, &schema); err != nil || len(schema.Properties.Category.Enum) != 7 {
		t.Errorf("schema enum = %v (%v), want the 7 categories", schema.Properties.Category.Enum, err)
	}
	body := string(r.Raw)
	for _, secret := range []string{"234 567 899", "234567899", "912 345 678", "ana.lopes", "example.pt", "phish"} {
		if strings.Contains(body, secret) {
			t.Errorf("the request carries %q: it must be redacted", secret)
		}
	}
	if !strings.Contains(body, "[number]") || !strings.Contains(body, "[email]") {
		t.Errorf("placeholders missing from the request: %s", body)
	}
}

func TestUnusableAnswersBecomeErrors(t *testing.T) {
	cases := map[string]string{
		"invalid JSON":       `I think this is a refund.`,
		"out of enum":        `{"category":"urgent","confidence":0.9}`,
		"names an address":   `{"category":"refund","confidence":0.9,"forward_to":"boss@evil.example"}`,
		"address as a value": `{"category":"someone@evil.example","confidence":0.9}`,
		"extra field":        `{"category":"refund","confidence":0.9,"also":"approve"}`,
		"no confidence":      `{"category":"refund"}`,
		"confidence > 1":     `{"category":"refund","confidence":7}`,
		"two values":         `{"category":"refund","confidence":0.9}{"category":"clinical","confidence":1}`,
		"empty":              ``,
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			srv := llmtest.Start(t, answer(content))
			op := client(t, srv.URL, 2*time.Second).Ask(context.Background(), mail)
			if op.Error == "" || op.Category != "" {
				t.Fatalf("answer %q was accepted: %+v", content, op)
			}
		})
	}
}

func TestAFencedAnswerIsAccepted(t *testing.T) {
	srv := llmtest.Start(t, answer("```json\n{\"category\":\"invoice\",\"confidence\":0.8}\n```"))
	if op := client(t, srv.URL, 2*time.Second).Ask(context.Background(), mail); op.Category != "invoice" {
		t.Fatalf("opinion %+v, want invoice", op)
	}
}

func TestTimeoutIsOneRequestAndAnError(t *testing.T) {
	srv := llmtest.Start(t, func(llmtest.Request) llmtest.Reply {
		return llmtest.Reply{Content: `{"category":"refund","confidence":0.9}`, Delay: 5 * time.Second}
	})
	op := client(t, srv.URL, 200*time.Millisecond).Ask(context.Background(), mail)
	if !strings.Contains(op.Error, "llm.timeout") {
		t.Fatalf("opinion %+v, want a timeout error", op)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("%d requests: a timeout must not be retried", n)
	}
}

func TestServerDownAndTheBreaker(t *testing.T) {
	c := client(t, llmtest.DownURL(t), time.Second)
	if op := c.Ask(context.Background(), mail); !strings.Contains(op.Error, "request failed") {
		t.Fatalf("opinion %+v, want a connection error", op)
	}

	srv := llmtest.Start(t, func(llmtest.Request) llmtest.Reply { return llmtest.Reply{Status: 500} })
	c = client(t, srv.URL, time.Second)
	for i := 0; i < 10; i++ {
		if op := c.Ask(context.Background(), mail); op.Error == "" {
			t.Fatalf("ask %d: a 500 gave %+v", i, op)
		}
	}
	if n := len(srv.Requests()); n != 3 {
		t.Errorf("%d requests for 10 asks against a failing server, want 3 before the breaker opens", n)
	}
}

func TestRedact(t *testing.T) {
	in := "NIF: PT 123.456.789, tel. 21 845 88 88, SNS 123456789, ref. MB 123 456 789, CPF 123.456.789-09, a@b.pt, paguei 15,50 € a 3/4"
	out := llm.Redact(in)
	for _, s := range []string{"123", "845", "a@b.pt"} {
		if strings.Contains(out, s) {
			t.Errorf("Redact left %q in %q", s, out)
		}
	}
	if !strings.Contains(out, "15,50 €") || !strings.Contains(out, "3/4") {
		t.Errorf("Redact removed an amount or a date: %q", out)
	}
}
