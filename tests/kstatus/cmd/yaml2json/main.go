// yaml2json converts YAML files to JSON for the Lua test runner of the Argo CD
// health check (Lua has no YAML reader): yaml2json -C SRC -o OUT REL... writes
// OUT/REL with a .json extension for every SRC/REL.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

func main() {
	src := flag.String("C", ".", "directory the relative paths start from")
	out := flag.String("o", "", "output directory")
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: yaml2json -C SRC -o OUT FILE.yaml...")
		os.Exit(2)
	}
	for _, rel := range flag.Args() {
		b, err := os.ReadFile(filepath.Join(*src, rel))
		if err == nil {
			b, err = yaml.YAMLToJSON(b)
		}
		if err == nil {
			dst := filepath.Join(*out, strings.TrimSuffix(rel, filepath.Ext(rel))+".json")
			if err = os.MkdirAll(filepath.Dir(dst), 0o755); err == nil {
				err = os.WriteFile(dst, b, 0o644)
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "yaml2json: %s: %v\n", rel, err)
			os.Exit(1)
		}
	}
}
