// A static check of a TEMPLATE against the data model: every field a template reads is
// resolved against the Go types the server hands it, without running it. This finds
// `{{ $msg.Name }}` (messages have ToolName) even when no conversation reaches that branch.
package main

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"text/template"
	"text/template/parse"
)

// Problem is one fault the static check found.
type Problem struct {
	Where   string `json:"where"`
	Message string `json:"message"`
}

var ollamaTypeNames = map[string]string{
	"templateMessage":                "api.Message",
	"templateToolCall":               "api.ToolCall",
	"templateToolCallFunction":       "api.ToolCallFunction",
	"templateTool":                   "api.Tool",
	"templateToolFunction":           "api.ToolFunction",
	"templateToolFunctionParameters": "api.ToolFunctionParameters",
	"ToolProperty":                   "api.ToolProperty",
	"ToolPropertiesMap":              "api.ToolPropertiesMap",
	"staticRoot":                     "the template's data",
}

func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Ptr {
		t = t.Elem()
	}
	if n, ok := ollamaTypeNames[t.Name()]; ok {
		return n
	}
	return t.String()
}

func fieldNames(t reflect.Type) []string {
	for t.Kind() == reflect.Ptr {
		t = t.Elem()
	}
	var names []string
	if t.Kind() == reflect.Struct {
		for i := 0; i < t.NumField(); i++ {
			if f := t.Field(i); f.IsExported() {
				names = append(names, f.Name)
			}
		}
	}
	return names
}

type linter struct {
	tmpl     *template.Template
	tree     *parse.Tree
	problems []Problem
	seen     map[string]bool
	root     reflect.Type
}

type scope []map[string]reflect.Type

func (s scope) lookup(name string) (reflect.Type, bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if t, ok := s[i][name]; ok {
			return t, true
		}
	}
	return nil, false
}

func (s scope) push() scope { return append(s, map[string]reflect.Type{}) }

// Lint parses the template and reports fields the data model does not have.
func Lint(text string) ([]Problem, error) {
	tmpl, err := template.New("").Option("missingkey=zero").Funcs(funcs).Parse(text)
	if err != nil {
		return nil, err
	}
	root := reflect.TypeOf(staticRoot{})
	l := &linter{tmpl: tmpl, tree: tmpl.Tree, seen: map[string]bool{}, root: root}
	if tmpl.Tree != nil {
		l.list(tmpl.Tree.Root, root, scope{{"$": root}})
	}
	return l.problems, nil
}

func (l *linter) report(n parse.Node, format string, args ...any) {
	where := ""
	if l.tree != nil {
		loc, _ := l.tree.ErrorContext(n)
		where = strings.TrimPrefix(loc, ":")
	}
	msg := fmt.Sprintf(format, args...)
	key := where + msg
	if l.seen[key] {
		return
	}
	l.seen[key] = true
	l.problems = append(l.problems, Problem{Where: where, Message: msg})
}

func (l *linter) list(n *parse.ListNode, dot reflect.Type, sc scope) {
	if n == nil {
		return
	}
	for _, c := range n.Nodes {
		sc = l.node(c, dot, sc)
	}
}

// node checks one node; it returns the scope, which grows with {{ $x := … }} declarations.
func (l *linter) node(n parse.Node, dot reflect.Type, sc scope) scope {
	switch n := n.(type) {
	case *parse.ActionNode:
		l.pipe(n.Pipe, dot, sc, false)
	case *parse.IfNode:
		inner := sc.push()
		l.pipe(n.Pipe, dot, inner, false)
		l.list(n.List, dot, inner)
		l.list(n.ElseList, dot, sc.push())
	case *parse.WithNode:
		inner := sc.push()
		t := l.pipe(n.Pipe, dot, inner, false)
		l.list(n.List, t, inner)
		l.list(n.ElseList, dot, sc.push())
	case *parse.RangeNode:
		inner := sc.push()
		elem := l.pipe(n.Pipe, dot, inner, true)
		l.list(n.List, elem, inner)
		l.list(n.ElseList, dot, sc.push())
	case *parse.TemplateNode:
		var t reflect.Type
		if n.Pipe != nil {
			t = l.pipe(n.Pipe, dot, sc, false)
		}
		key := fmt.Sprintf("%s|%v", n.Name, t)
		if sub := l.tmpl.Lookup(n.Name); sub != nil && sub.Tree != nil && !l.seen["tmpl:"+key] {
			l.seen["tmpl:"+key] = true
			saved := l.tree
			l.tree = sub.Tree
			l.list(sub.Tree.Root, t, scope{{"$": t}})
			l.tree = saved
		}
	}
	return sc
}

// pipe returns the pipeline's type (the element type for a range) and declares its variables.
func (l *linter) pipe(p *parse.PipeNode, dot reflect.Type, sc scope, isRange bool) reflect.Type {
	if p == nil {
		return nil
	}
	var t reflect.Type
	for _, cmd := range p.Cmds {
		t = l.command(cmd, dot, sc)
	}
	if !isRange {
		if len(p.Decl) > 0 && !p.IsAssign {
			sc[len(sc)-1][p.Decl[0].Ident[0]] = t
		}
		return t
	}
	key, elem := rangeTypes(t)
	switch len(p.Decl) {
	case 1:
		sc[len(sc)-1][p.Decl[0].Ident[0]] = elem
	case 2:
		sc[len(sc)-1][p.Decl[0].Ident[0]] = key
		sc[len(sc)-1][p.Decl[1].Ident[0]] = elem
	}
	return elem
}

func rangeTypes(t reflect.Type) (reflect.Type, reflect.Type) {
	if t == nil {
		return nil, nil
	}
	for t.Kind() == reflect.Ptr {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return reflect.TypeOf(0), t.Elem()
	case reflect.Map:
		return t.Key(), t.Elem()
	}
	return nil, nil
}

var stringType = reflect.TypeOf("")
var boolType = reflect.TypeOf(true)

func (l *linter) command(cmd *parse.CommandNode, dot reflect.Type, sc scope) reflect.Type {
	var first reflect.Type
	for i, arg := range cmd.Args {
		t := l.arg(arg, dot, sc)
		if i == 0 {
			first = t
		}
	}
	if len(cmd.Args) == 0 {
		return nil
	}
	if id, ok := cmd.Args[0].(*parse.IdentifierNode); ok {
		return funcResult(id.Ident, cmd, dot, sc, l)
	}
	return first
}

func funcResult(name string, cmd *parse.CommandNode, dot reflect.Type, sc scope, l *linter) reflect.Type {
	switch name {
	case "json", "currentDate", "yesterdayDate", "toTypeScriptType", "print", "printf",
		"println", "html", "js", "urlquery":
		return stringType
	case "eq", "ne", "lt", "le", "gt", "ge", "not":
		return boolType
	case "len":
		return reflect.TypeOf(0)
	case "slice":
		if len(cmd.Args) > 1 {
			return l.arg(cmd.Args[1], dot, sc)
		}
	case "index":
		if len(cmd.Args) > 1 {
			t := l.arg(cmd.Args[1], dot, sc)
			for i := 2; i < len(cmd.Args) && t != nil; i++ {
				_, t = rangeTypes(t)
			}
			return t
		}
	}
	return nil
}

func (l *linter) arg(arg parse.Node, dot reflect.Type, sc scope) reflect.Type {
	switch a := arg.(type) {
	case *parse.DotNode:
		return dot
	case *parse.FieldNode:
		return l.fields(a, dot, "", a.Ident)
	case *parse.VariableNode:
		t, ok := sc.lookup(a.Ident[0])
		if !ok {
			return nil
		}
		return l.fields(a, t, a.Ident[0], a.Ident[1:])
	case *parse.ChainNode:
		var t reflect.Type
		if p, ok := a.Node.(*parse.PipeNode); ok {
			t = l.pipe(p, dot, sc.push(), false)
		} else {
			t = l.arg(a.Node, dot, sc)
		}
		return l.fields(a, t, "(…)", a.Field)
	case *parse.PipeNode:
		return l.pipe(a, dot, sc.push(), false)
	case *parse.StringNode:
		return stringType
	case *parse.BoolNode:
		return boolType
	}
	return nil
}

// fields resolves a chain of field names from t; unknown (interface) types stop the check.
func (l *linter) fields(n parse.Node, t reflect.Type, path string, idents []string) reflect.Type {
	for _, name := range idents {
		if t == nil {
			return nil
		}
		base := t
		for base.Kind() == reflect.Ptr {
			base = base.Elem()
		}
		path += "." + name
		if m, ok := method(t, name); ok {
			if m.Type.NumOut() == 0 {
				return nil
			}
			t = m.Type.Out(0)
			continue
		}
		switch base.Kind() {
		case reflect.Interface:
			return nil
		case reflect.Map:
			if base.Key().Kind() != reflect.String {
				l.report(n, "%s: cannot read a field of %s", path, typeName(base))
				return nil
			}
			t = base.Elem()
			continue
		case reflect.Struct:
			if f, ok := base.FieldByName(name); ok && f.IsExported() {
				t = f.Type
				continue
			}
			fields := fieldNames(base)
			sort.Strings(fields)
			l.report(n, "%s: %s has no field %s (it has %s)", path, typeName(base), name,
				strings.Join(fields, ", "))
			return nil
		default:
			l.report(n, "%s: %s has no field %s", path, typeName(base), name)
			return nil
		}
	}
	return t
}

func method(t reflect.Type, name string) (reflect.Method, bool) {
	if m, ok := t.MethodByName(name); ok {
		return m, true
	}
	if t.Kind() != reflect.Ptr && t.Kind() != reflect.Interface {
		return reflect.PtrTo(t).MethodByName(name)
	}
	return reflect.Method{}, false
}
