// Package rawtext reads every text of the data sets as it is on disk, for the tests that
// hold a function to all the real mail there is. It imports nothing of triagem's, so the
// packages that the dataset package itself depends on can use it in their tests.
package rawtext

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Dirs are the data sets under the dataset directory: the training mail and the held-out
// sets.
var Dirs = []string{"train", "eval/typical", "eval/hard", "eval/fresh"}

// Read returns the texts under root (the dataset directory): each training example on
// its own (the files separate them with "%%" lines), each held-out file whole.
func Read(root string) ([]string, error) {
	var texts []string
	for _, dir := range Dirs {
		files, err := filepath.Glob(filepath.Join(root, dir, "*"))
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("no files in %s: run the test from its package directory", filepath.Join(root, dir))
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			texts = append(texts, strings.Split(string(b), "\n%%\n")...)
		}
	}
	return texts, nil
}
