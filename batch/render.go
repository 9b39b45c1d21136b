package batch

import (
	"bytes"
	"fmt"
	"io/fs"
	"text/template"
)

// Script renders the job template named name (e.g. "jobs/slurm.sh.tmpl")
// from fsys for spec. The spec is validated first; the template sees only
// validated values and must pass every string through the quote function.
func Script(fsys fs.FS, name string, spec JobSpec) ([]byte, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	t, err := template.New("").Option("missingkey=error").Funcs(template.FuncMap{
		"quote":    Quote,
		"argv":     QuoteArgv,
		"walltime": FormatWalltime,
		"word":     ShellWord,
	}).ParseFS(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("job template %s: %w", name, err)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, t.Templates()[0].Name(), spec); err != nil {
		return nil, fmt.Errorf("render job template %s: %w", name, err)
	}
	return buf.Bytes(), nil
}
