package batch

import (
	"bytes"
	"context"
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

// PrepareSubmit is what every adapter's Submit does before its scheduler's
// own command: render spec's script from the job template named name, then
// create the job's run directory (mode 0700) as spec.User with the
// system's mkdir. The directory must exist before the job starts: the
// scheduler opens the job's log there (Slurm, Grid Engine's execd) or
// copies it there (PBS), and the script writes its address file there; a
// missing one fails the job with nothing to show for it.
func PrepareSubmit(ctx context.Context, exec Executor, fsys fs.FS, name string, spec JobSpec, funcs template.FuncMap) ([]byte, error) {
	script, err := Script(fsys, name, spec, funcs)
	if err != nil {
		return nil, err
	}
	dir := spec.RunDirOrDefault()
	mkdir := Command{User: spec.User, Argv: []string{"mkdir", "-p", "-m", "0700", "--", dir}}
	if _, err := exec.Run(ctx, mkdir); err != nil {
		return nil, fmt.Errorf("create run directory %s: %w", dir, err)
	}
	return script, nil
}
