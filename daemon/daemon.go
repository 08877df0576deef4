// Package daemon wires intake, screening, classification, the outbox and moves into the
// running triage service; cmd/triagem and the end-to-end tests start the same App.
package daemon

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/triagem/triagem/approve"
	"github.com/triagem/triagem/classify"
	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/llm"
	"github.com/triagem/triagem/parse"
	"github.com/triagem/triagem/route"
	"github.com/triagem/triagem/screen"
	"github.com/triagem/triagem/spool"
	"github.com/triagem/triagem/store"
	"github.com/triagem/triagem/templates"
)

// Evaluator decides on a mail without touching any state: parse, screen, classify, route.
// It is the dry run behind `triagem classify` and the first half of every real decision.
type Evaluator struct {
	Cfg      *config.Config
	Router   *route.Router
	Composer *route.Composer
	// Templates are the texts in use: shipped, and team.templates_dir over them.
	Templates *templates.Set

	allowed   map[string]bool
	screenEnv screen.Env
	llm       *llm.Client
	limits    parse.Limits
}

// NewEvaluator compiles the rules and templates of cfg.
func NewEvaluator(cfg *config.Config) (*Evaluator, error) {
	cls, err := classify.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("compile rules: %w", err)
	}
	tmpl, err := templates.LoadDir(cfg.Team.Language, cfg.File(cfg.Team.TemplatesDir))
	if err != nil {
		return nil, err
	}
	if missing := tmpl.Missing(cfg.Team.Language); len(missing) > 0 {
		return nil, fmt.Errorf("team.language is %q, but no template speaks it: add %s to team.templates_dir",
			cfg.Team.Language, strings.Join(missing, ", "))
	}
	if err := tmpl.CheckReasons(cfg.Team.Language); err != nil {
		return nil, err
	}
	for _, l := range cfg.Team.CustomerLanguages {
		for _, p := range []string{"ack", "answer"} {
			if !tmpl.Has(p, l) {
				return nil, fmt.Errorf("team.customer_languages has %q, but there is no %s.%s.tmpl: add it to team.templates_dir, or take %q out", l, p, l, l)
			}
		}
	}
	router := route.New(cfg, cls)
	var client *llm.Client
	if cfg.LLM.Mode != "never" {
		if client, err = llm.New(cfg); err != nil {
			return nil, err
		}
		router.UseLLM(client)
	}
	return &Evaluator{
		Cfg:       cfg,
		Router:    router,
		llm:       client,
		Composer:  route.NewComposer(cfg, tmpl),
		Templates: tmpl,
		allowed:   cfg.Recipients(),
		screenEnv: screen.Env{Own: cfg.OwnAddresses(), Agents: config.AddressSet(cfg.Team.Agents...), Departments: cfg.Departments(), Forms: cfg.FormSenders(),
			MessageIDDomain: cfg.Daemon.MessageIDDomain},
		limits: ParseLimits(cfg),
	}, nil
}

// ParseLimits are the parser's bounds from cfg's [limits].
func ParseLimits(cfg *config.Config) parse.Limits {
	return parse.Limits{MaxHeaderBytes: cfg.Limits.MaxHeaderBytes, MaxParts: cfg.Limits.MaxParts,
		MaxDepth: cfg.Limits.MaxDepth, MaxTextBytes: cfg.Limits.MaxTextBytes}
}

// App is one triagem instance: its configuration, state and decision machinery.
type App struct {
	*Evaluator
	Store *store.Store
	Spool *spool.Spool
	Log   *slog.Logger

	hashKey []byte
	keys    approve.Keyring
	health  health
	// sentDrafts are draft mails sent but not yet removed from the spool (forgetSent).
	sentDrafts struct {
		sync.Mutex
		blobs []string
	}
	wakeSender chan struct{}
	wakeMover  chan struct{}
}

// Open prepares the state directory and everything the pipeline needs.
func Open(cfg *config.Config, log *slog.Logger) (*App, error) {
	ev, err := NewEvaluator(cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Daemon.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create state_dir %s: %w", cfg.Daemon.StateDir, err)
	}
	st, err := store.Open(filepath.Join(cfg.Daemon.StateDir, "triagem.db"))
	if err != nil {
		return nil, err
	}
	sp, err := spool.Open(filepath.Join(cfg.Daemon.StateDir, "spool"))
	if err != nil {
		st.Close()
		return nil, err
	}
	key, err := hashKey(cfg)
	if err != nil {
		st.Close()
		sp.Close()
		return nil, err
	}
	keys, err := approvalKeys(cfg)
	if err != nil {
		st.Close()
		sp.Close()
		return nil, err
	}
	return &App{
		Evaluator: ev, Store: st, Spool: sp, Log: log,
		hashKey:    key,
		keys:       keys,
		wakeSender: make(chan struct{}, 1),
		wakeMover:  make(chan struct{}, 1),
	}, nil
}

// Close releases the database and the spool.
func (a *App) Close() error {
	a.forgetSent()
	return errors.Join(a.Store.Close(), a.Spool.Close())
}

// HashNIF is the keyed hash under which a NIF is stored: auditors can search for a NIF
// they type in ("PT 123.456.789" is 123456789), but the log never holds it.
func (a *App) HashNIF(nif string) string {
	nif = normalizeNIF(nif)
	if nif == "" {
		return ""
	}
	m := hmac.New(sha256.New, a.hashKey)
	m.Write([]byte("nif:" + nif))
	return hex.EncodeToString(m.Sum(nil))[:32]
}

// NIFHasher returns the keyed hash of NIFs of an existing instance, for searching the log
// by NIF. Unlike Open it never creates a key: a new key would match nothing.
func NIFHasher(cfg *config.Config) (func(nif string) string, error) {
	if cfg.Privacy.KeyEnv == "" || os.Getenv(cfg.Privacy.KeyEnv) == "" {
		p := cfg.Privacy.KeyFile
		if p == "" {
			p = filepath.Join(cfg.Daemon.StateDir, "hash.key")
		}
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("no NIF hash key (%s): a search by NIF needs the key the daemon used", p)
		}
	}
	key, err := hashKey(cfg)
	if err != nil {
		return nil, err
	}
	a := &App{hashKey: key}
	return a.HashNIF, nil
}

// normalizeNIF drops spaces, dots, dashes and a PT prefix: "PT 123.456.789" is 123456789.
func normalizeNIF(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func hashKey(cfg *config.Config) ([]byte, error) {
	if cfg.Privacy.KeyEnv != "" {
		if v := os.Getenv(cfg.Privacy.KeyEnv); v != "" {
			return []byte(v), nil
		}
	}
	path := cfg.Privacy.KeyFile
	if path == "" {
		path = filepath.Join(cfg.Daemon.StateDir, "hash.key")
	}
	b, err := os.ReadFile(path)
	if err == nil {
		if k := strings.TrimSpace(string(b)); k != "" {
			return []byte(k), nil
		}
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read hash key %s: %w", path, err)
	}
	if cfg.Privacy.KeyFile != "" {
		return nil, fmt.Errorf("hash key file %s is missing or empty: restore it (without it old NIFs cannot be searched)", path)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	k := hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(k+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write new hash key %s: %w", path, err)
	}
	return []byte(k), nil
}

func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
