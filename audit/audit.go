// Package audit proves the event log intact: it walks the hash chain and names the first
// row that does not verify, and it signs checkpoints (Ed25519) that catch a truncated tail.
package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/triagem/triagem/store"
)

// Problem is the first row that does not verify, and why.
type Problem struct {
	Seq    int64  `json:"seq"`
	Reason string `json:"reason"`
}

// Result is what a verification found.
type Result struct {
	Events  int64    `json:"events"`
	Head    int64    `json:"head_seq"`
	HeadAt  int64    `json:"head_at"`
	Hash    string   `json:"head_hash"`
	Problem *Problem `json:"problem,omitempty"`
	// Checkpoint is set when a checkpoint was checked, and what was found for it.
	Checkpoint string `json:"checkpoint,omitempty"`
}

// OK reports whether the chain verified.
func (r Result) OK() bool { return r.Problem == nil }

// Verify walks the whole chain. Every row must have the next sequence number, carry the
// previous row's hash, and hash to its own hash. With cp, the chain must also still hold
// the checkpointed row, unchanged: a shorter chain is a truncated tail.
func Verify(ctx context.Context, st *store.Store, cp *Checkpoint) (Result, error) {
	var r Result
	var prevHash string
	var prevSeq int64
	cpFound := false
	err := st.EachEvent(ctx, func(e store.Event) error {
		r.Events++
		switch {
		case e.Seq != prevSeq+1:
			r.Problem = &Problem{e.Seq, fmt.Sprintf("sequence jumps from %d to %d: rows %d–%d were deleted (or reordered)", prevSeq, e.Seq, prevSeq+1, e.Seq-1)}
		case e.PrevHash != prevHash:
			r.Problem = &Problem{e.Seq, "prev_hash does not match the hash of row " + fmt.Sprint(prevSeq) + ": a row before it was changed, removed or reordered"}
		case store.ChainHash(e.PrevHash, e.Seq, e.At, e.Type, e.CaseRef, e.Message, e.Data) != e.Hash:
			r.Problem = &Problem{e.Seq, "the row's content does not match its hash: it was changed after it was written"}
		}
		if r.Problem != nil {
			return errStop
		}
		if cp != nil && e.Seq == cp.Seq {
			cpFound = true
			if e.Hash != cp.Hash {
				r.Problem = &Problem{e.Seq, "the row differs from the signed checkpoint: the chain was rewritten from here"}
				return errStop
			}
		}
		prevHash, prevSeq = e.Hash, e.Seq
		r.Head, r.HeadAt, r.Hash = e.Seq, e.At, e.Hash
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return r, err
	}
	if cp != nil {
		switch {
		case r.Problem != nil:
		case !cpFound:
			r.Problem = &Problem{r.Head + 1, fmt.Sprintf("the chain ends at row %d but the checkpoint of %s holds row %d: the tail was truncated",
				r.Head, time.UnixMilli(cp.At).UTC().Format(time.RFC3339), cp.Seq)}
		default:
			r.Checkpoint = fmt.Sprintf("row %d matches the checkpoint of %s", cp.Seq, time.UnixMilli(cp.At).UTC().Format(time.RFC3339))
		}
	}
	return r, nil
}

var errStop = errors.New("stop")

// Checkpoint is a signed statement of the chain's head, to keep somewhere else.
type Checkpoint struct {
	Seq       int64  `json:"seq"`
	Hash      string `json:"hash"`
	At        int64  `json:"at"`         // the head row's time, unix milliseconds
	Created   string `json:"created_at"` // when the checkpoint was made
	PublicKey string `json:"public_key"` // hex Ed25519
	Signature string `json:"signature"`  // hex, over the signed text below
}

func (c Checkpoint) signed() []byte {
	return []byte(fmt.Sprintf("triagem-checkpoint-v1\nseq=%d\nhash=%s\nat=%d\ncreated=%s\n", c.Seq, c.Hash, c.At, c.Created))
}

// Sign makes a checkpoint of the chain's head r.
func Sign(key ed25519.PrivateKey, r Result, now time.Time) Checkpoint {
	c := Checkpoint{Seq: r.Head, Hash: r.Hash, At: r.HeadAt, Created: now.UTC().Format(time.RFC3339),
		PublicKey: hex.EncodeToString(key.Public().(ed25519.PublicKey))}
	c.Signature = hex.EncodeToString(ed25519.Sign(key, c.signed()))
	return c
}

// ReadCheckpoint reads a checkpoint file and checks its signature against pub (the key
// the configuration names), so a checkpoint signed by anyone else is refused.
func ReadCheckpoint(path string, pub ed25519.PublicKey) (*Checkpoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Checkpoint
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s is not a checkpoint: %w", path, err)
	}
	if c.PublicKey != hex.EncodeToString(pub) {
		return nil, fmt.Errorf("%s was signed with key %s…, not this instance's %s…", path, prefix(c.PublicKey), prefix(hex.EncodeToString(pub)))
	}
	sig, err := hex.DecodeString(c.Signature)
	if err != nil || !ed25519.Verify(pub, c.signed(), sig) {
		return nil, fmt.Errorf("%s: the signature does not verify: the checkpoint was altered", path)
	}
	return &c, nil
}

func prefix(s string) string { return s[:min(12, len(s))] }

// LoadKey reads an Ed25519 signing key (the 32-byte seed, hex) from env or file, or creates
// one in path when neither is configured.
func LoadKey(envName, file, defaultPath string) (ed25519.PrivateKey, error) {
	if envName != "" {
		if v := strings.TrimSpace(os.Getenv(envName)); v != "" {
			return parseSeed(v, "$"+envName)
		}
	}
	path := file
	if path == "" {
		path = defaultPath
	}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		return parseSeed(strings.TrimSpace(string(b)), path)
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	case file != "":
		return nil, fmt.Errorf("audit signing key %s is missing: restore it (checkpoints signed with it verify only with it)", file)
	}
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(key.Seed())+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write new audit key %s: %w", path, err)
	}
	return key, nil
}

func parseSeed(s, where string) (ed25519.PrivateKey, error) {
	seed, err := hex.DecodeString(s)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%s must hold a 32-byte Ed25519 seed in hex (64 characters)", where)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}
