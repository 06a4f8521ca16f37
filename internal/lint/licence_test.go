package lint

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// permissive lists the licences a dependency may have: each lets a mail
// server embed mailrepl, in open or closed source, next to Apache-2.0.
// mark is a phrase of the licence's text that its LICENSE file holds;
// unless is one that tells it from its neighbour.
var permissive = map[string]struct{ mark, unless string }{
	"Apache-2.0":   {mark: "Apache License", unless: ""},
	"MIT":          {mark: "Permission is hereby granted, free of charge", unless: ""},
	"BSD-3-Clause": {mark: "Neither the name", unless: ""},
	"BSD-2-Clause": {mark: "Redistribution and use in source and binary forms", unless: "Neither the name"},
	"ISC":          {mark: "Permission to use, copy, modify, and/or distribute", unless: ""},
}

// TestLicence: the repository carries the Apache-2.0 text in LICENSE and
// README.md names it.
func TestLicence(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "LICENSE"))
	if err != nil {
		t.Fatalf("the repository has no licence: %v", err)
	}
	text := string(b)
	for _, want := range []string{
		"Apache License",
		"Version 2.0, January 2004",
		"TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION",
		"9. Accepting Warranty or Additional Liability.",
		"END OF TERMS AND CONDITIONS",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("LICENSE lacks %q: not the full Apache-2.0 text", want)
		}
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "Apache License, Version 2.0") || !strings.Contains(string(readme), "(LICENSE)") {
		t.Error("README.md does not name the licence (\"Apache License, Version 2.0\", linking LICENSE)")
	}
}

// licenceRow matches the rows "| `module` | licence |" of README.md.
var licenceRow = regexp.MustCompile("(?m)^\\| `([^`]+)` \\| ([A-Za-z0-9.-]+)[^|]*\\|$")

// TestDependencyLicences: every module go.mod requires directly is listed
// in README.md with a permissive licence, and, where the module is in the
// module cache (CI downloads it), its LICENSE file is that licence.
func TestDependencyLicences(t *testing.T) {
	root := repoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]string{}
	for _, m := range licenceRow.FindAllStringSubmatch(string(readme), -1) {
		listed[m[1]] = m[2]
	}
	cmd := exec.Command("go", "mod", "edit", "-json")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod edit -json: %v", err)
	}
	var mod struct {
		Require []struct {
			Path     string
			Indirect bool
		}
	}
	if err := json.Unmarshal(out, &mod); err != nil {
		t.Fatal(err)
	}
	direct := 0
	for _, r := range mod.Require {
		if r.Indirect {
			continue
		}
		direct++
		lic, ok := listed[r.Path]
		if !ok {
			t.Errorf("go.mod requires %s; README.md's licence table does not list it", r.Path)
			continue
		}
		want, ok := permissive[lic]
		if !ok {
			t.Errorf("README.md gives %s the licence %q, not one of the permissive ones this test knows", r.Path, lic)
			continue
		}
		cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", r.Path)
		cmd.Dir = root
		out, err := cmd.Output()
		dir := strings.TrimSpace(string(out))
		if err != nil || dir == "" {
			t.Logf("%s is not in the module cache: its LICENSE file not checked", r.Path)
			continue
		}
		var text string
		for _, name := range []string{"LICENSE", "LICENSE.txt", "LICENSE.md", "COPYING"} {
			if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
				text = string(b)
				break
			}
		}
		switch {
		case text == "":
			t.Errorf("%s (%s) has no LICENSE file", r.Path, dir)
		case !strings.Contains(text, want.mark) || want.unless != "" && strings.Contains(text, want.unless):
			t.Errorf("%s: its LICENSE file is not %s, as README.md says", r.Path, lic)
		}
	}
	if direct == 0 {
		t.Fatal("go.mod requires no module directly: the test read it wrong")
	}
}
