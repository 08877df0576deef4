package config

import "testing"

// FuzzParse: any config text is accepted or refused with errors; it never panics.
func FuzzParse(f *testing.F) {
	f.Add([]byte("[daemon]\nstate_dir = \"/tmp/x\"\n"))
	f.Add([]byte("[[category]]\nname = \"a\"\nto = [\"x@y\"]\n[[category.rule]]\nany = [\"*\"]\n"))
	f.Add([]byte("[llm]\nmode = \"always\"\nbase_url = \"http://10.0.0.1\"\n"))
	f.Add([]byte("[approval]\nreply_address = \"{token}{token}@\"\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		Parse("fuzz.toml", src)
	})
}
