package batch

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"text/template"
)

// scriptFuncs are the template functions every job template has: the ones
// that keep values from the site and the user to one shell word each.
var scriptFuncs = template.FuncMap{
	"quote": Quote,
	"argv":  QuoteArgv,
	"word":  ShellWord,
}

// SharedTemplate holds the pieces every job template may use with
// {{template "NAME" .}}: "pick-port" (HPCGATE_PORT, chosen with bash alone).
// It is parsed with each job template when fsys has it.
const SharedTemplate = "jobs/port.sh.tmpl"

// Script renders the job template named name (e.g. "jobs/slurm.sh.tmpl")
// from fsys for spec. The spec is validated first; the template sees only
// validated values and must pass every string through the quote function.
// funcs are the adapter's own template functions (its walltime format, its
// resource syntax); they may add to quote, argv and word but not replace
// them.
func Script(fsys fs.FS, name string, spec JobSpec, funcs template.FuncMap) ([]byte, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	for fn := range funcs {
		if _, ok := scriptFuncs[fn]; ok {
			return nil, fmt.Errorf("job template %s: the adapter redefines the common function %s", name, fn)
		}
	}
	files := []string{name}
	if _, err := fs.Stat(fsys, SharedTemplate); err == nil {
		files = append(files, SharedTemplate)
	}
	t, err := template.New("").Option("missingkey=error").Funcs(scriptFuncs).Funcs(funcs).ParseFS(fsys, files...)
	if err != nil {
		return nil, fmt.Errorf("job template %s: %w", name, err)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, path.Base(name), spec); err != nil {
		return nil, fmt.Errorf("render job template %s: %w", name, err)
	}
	return buf.Bytes(), nil
}
