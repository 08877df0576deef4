package config_test

import (
	"strings"
	"testing"

	"github.com/triagem/triagem"
	"github.com/triagem/triagem/config"
)

func TestShippedConfigIsValidAndCarriesProcedure001(t *testing.T) {
	cfg, err := config.Parse("config.toml", triagem.DefaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{
		"documents": {"telemedicina@smpsaude.pt", ""}, "insurance": {"medico.online@medis.pt", ""},
		"tech": {"medico.online@medis.pt", ""}, "refund": {"medico.online@medis.pt", ""},
		"invoice":  {"rute.joao.externo@ageas.pt", "clinicadigital@saude360.medis.pt"},
		"clinical": {"areaclinica@saude360.medis.pt", ""},
	}
	for name, w := range want {
		c := cfg.Category(name)
		if c == nil || strings.Join(c.To, ",") != w[0] || strings.Join(c.Cc, ",") != w[1] {
			t.Errorf("category %s: %+v, want to %s cc %s", name, c, w[0], w[1])
		}
	}
	if !cfg.Category("insurance").Disclaimer || cfg.Team.Disclaimer != "Para informações adicionais relacionadas com o seguro de saúde Médis, deve utilizar o e-mail apoioaocliente@medis.pt, ou ligar para o número 218 458 888." {
		t.Errorf("the insurance disclaimer is not the seed's text: %q", cfg.Team.Disclaimer)
	}
	if cfg.Team.ReviewEscalation != "" {
		t.Errorf("review escalation must be off by default")
	}
}

func TestEveryErrorAtOnceWithLines(t *testing.T) {
	src := `[daemon]
state_dir = "/tmp/x"
poll_interval = "0s"
[[inbox]]
name = "a"
host = "imap.example.test"
port = 993
tls = "plain"
user = "u"
[smtp]
host = "smtp.example.test"
port = 99999
tls = "starttls"
connections = 0
[team]
from = "not an address"
agents = ["agent@example.test"]
disclaimer = "x"
[[category]]
name = "docs"
to = ["nobody"]
[[category]]
name = "other"
review = true
[classify]
threshhold = 0.5
`
	_, err := config.Parse("test.toml", []byte(src))
	if err == nil {
		t.Fatal("a broken config was accepted")
	}
	msg := err.Error()
	for _, want := range []string{"test.toml:3:", "test.toml:8:", "test.toml:12:", "test.toml:14:", "test.toml:16:", "test.toml:21:", "test.toml:26: unknown setting"} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
}

func TestRewriteDomainsLeavesNoRealAddress(t *testing.T) {
	cfg, err := config.Parse("config.toml", triagem.DefaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RewriteDomains("example.test")
	for a := range cfg.Recipients() {
		if !strings.HasSuffix(a, "@example.test") {
			t.Errorf("%s survived the rewrite", a)
		}
	}
}
