// gotmpl renders Ollama chat TEMPLATEs with Go's own text/template and the server's data model,
// so a template is tested by the same engine that will run it.
//
//	gotmpl render  < {"template": "...", "values": {...}}      prints the prompt
//	gotmpl batch   < {"jobs": [{"op": "render"|"lint", ...}]}  prints {"results": [...]}
//
// values: {"messages": [...], "tools": [...], "think": true|false|"high", "prompt", "suffix"}
// with the JSON shapes of Ollama's /api/chat request.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// Request values as a client sends them.
type requestValues struct {
	Messages []Message      `json:"messages"`
	Tools    []Tool         `json:"tools"`
	Prompt   string         `json:"prompt"`
	Suffix   string         `json:"suffix"`
	Think    *thinkValue    `json:"think"`
	Extra    map[string]any `json:"-"`
}

type thinkValue struct{ value any }

func (t *thinkValue) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v.(type) {
	case bool, string, nil:
		t.value = v
		return nil
	}
	return fmt.Errorf("think: expected a boolean or a level string, found %s", string(b))
}

func (t *thinkValue) enabled() bool {
	if t == nil {
		return false
	}
	switch v := t.value.(type) {
	case bool:
		return v
	case string:
		return v == "high" || v == "medium" || v == "low" || v == "max"
	}
	return false
}

func (t *thinkValue) level() string {
	if t == nil {
		return ""
	}
	switch v := t.value.(type) {
	case string:
		return v
	case bool:
		if v {
			return "medium"
		}
	}
	return ""
}

func (r requestValues) values() Values {
	return Values{
		Messages:   r.Messages,
		Tools:      r.Tools,
		Prompt:     r.Prompt,
		Suffix:     r.Suffix,
		Think:      r.Think.enabled(),
		ThinkLevel: r.Think.level(),
		IsThinkSet: r.Think != nil,
	}
}

type job struct {
	Op       string          `json:"op"`
	Template string          `json:"template"`
	Values   json.RawMessage `json:"values"`
}

type result struct {
	OK       bool      `json:"ok"`
	Output   string    `json:"output,omitempty"`
	Stage    string    `json:"stage,omitempty"`
	Error    string    `json:"error,omitempty"`
	Vars     []string  `json:"vars,omitempty"`
	Problems []Problem `json:"problems,omitempty"`
}

type parsed struct {
	t   *Template
	err error
}

type runner struct{ cache map[string]parsed }

func (r *runner) parse(text string) (*Template, error) {
	if p, ok := r.cache[text]; ok {
		return p.t, p.err
	}
	t, err := Parse(text)
	r.cache[text] = parsed{t, err}
	return t, err
}

func (r *runner) render(j job) result {
	t, err := r.parse(j.Template)
	if err != nil {
		return result{Stage: "parse", Error: err.Error()}
	}
	var rv requestValues
	if len(j.Values) > 0 {
		if err := json.Unmarshal(j.Values, &rv); err != nil {
			return result{Stage: "input", Error: err.Error()}
		}
	}
	var b bytes.Buffer
	if err := t.Execute(&b, rv.values()); err != nil {
		return result{Stage: "execute", Error: err.Error(), Output: b.String()}
	}
	return result{OK: true, Output: b.String()}
}

func (r *runner) lint(j job) result {
	t, err := r.parse(j.Template)
	if err != nil {
		return result{Stage: "parse", Error: err.Error()}
	}
	problems, err := Lint(j.Template)
	if err != nil {
		return result{Stage: "parse", Error: err.Error()}
	}
	return result{OK: len(problems) == 0, Vars: t.vars, Problems: problems}
}

func (r *runner) run(j job) result {
	switch j.Op {
	case "", "render":
		return r.render(j)
	case "lint":
		return r.lint(j)
	}
	return result{Stage: "input", Error: fmt.Sprintf("unknown op %q (expected render or lint)", j.Op)}
}

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gotmpl: "+format+"\n", args...)
	os.Exit(code)
}

func main() {
	mode := "render"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(2, "reading stdin: %v", err)
	}
	r := &runner{cache: map[string]parsed{}}
	switch mode {
	case "render":
		var j job
		if err := json.Unmarshal(input, &j); err != nil {
			fail(2, "stdin is not a render request: %v", err)
		}
		res := r.render(j)
		os.Stdout.WriteString(res.Output)
		if !res.OK {
			fail(1, "%s: %s", res.Stage, res.Error)
		}
	case "batch":
		var req struct {
			Jobs []job `json:"jobs"`
		}
		if err := json.Unmarshal(input, &req); err != nil {
			fail(2, "stdin is not a batch request: %v", err)
		}
		out := struct {
			Results []result `json:"results"`
		}{Results: make([]result, 0, len(req.Jobs))}
		for _, j := range req.Jobs {
			out.Results = append(out.Results, r.run(j))
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(out); err != nil {
			fail(2, "writing results: %v", err)
		}
	default:
		fail(2, "unknown mode %q (expected %s)", mode, strings.Join([]string{"render", "batch"}, " or "))
	}
}
