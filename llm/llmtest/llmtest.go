// Package llmtest runs a local OpenAI-compatible chat server for tests: it answers, delays,
// fails or returns garbage as a test tells it, and records every request it got.
package llmtest

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Request is what the server received, decoded.
type Request struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	ResponseFormat struct {
		Type       string `json:"type"`
		JSONSchema struct {
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
			Strict bool            `json:"strict"`
		} `json:"json_schema"`
	} `json:"response_format"`
	Raw []byte `json:"-"`
}

// Reply is how the server answers one request.
type Reply struct {
	Content string        // the assistant message
	Delay   time.Duration // wait this long first (the client may give up)
	Status  int           // an HTTP error status instead of an answer
}

// Server is a running fake endpoint.
type Server struct {
	URL string // base URL, ending in /v1

	srv     *httptest.Server
	mu      sync.Mutex
	reply   func(Request) Reply
	got     []Request
	stopped chan struct{}
}

// Start serves on 127.0.0.1 until the test ends.
func Start(t testing.TB, reply func(Request) Reply) *Server {
	t.Helper()
	s := &Server{reply: reply, stopped: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL + "/v1"
	t.Cleanup(func() {
		close(s.stopped)
		s.srv.Close()
	})
	return s
}

// SetReply changes the behaviour for the next requests.
func (s *Server) SetReply(reply func(Request) Reply) {
	s.mu.Lock()
	s.reply = reply
	s.mu.Unlock()
}

// Requests are the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.got...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/chat/completions" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	req.Raw = body
	s.mu.Lock()
	s.got = append(s.got, req)
	reply := s.reply
	s.mu.Unlock()
	rep := reply(req)
	if rep.Delay > 0 {
		select {
		case <-time.After(rep.Delay):
		case <-r.Context().Done():
			return
		case <-s.stopped:
			return
		}
	}
	if rep.Status != 0 {
		http.Error(w, `{"error":{"message":"test failure","type":"server_error"}}`, rep.Status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"id": "chatcmpl-test", "object": "chat.completion", "created": time.Now().Unix(), "model": req.Model,
		"choices": []map[string]any{{"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": rep.Content}}},
	})
}

// DownURL is the base URL of a port nothing listens on: a server that is down.
func DownURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/v1"
}
