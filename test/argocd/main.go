// Command argocd-health runs an Argo CD resource health check (Lua) the way Argo CD does
// (util/lua/lua.go in argoproj/argo-cd): gopher-lua, with only the package, base and table
// libraries opened (custom health checks from argocd-cm run without the standard string/math/os
// libraries unless resource.customizations.useOpenLibs is set), the resource as the global `obj`
// converted like Argo CD's decodeValue, a 1 s time limit, and the returned table encoded with
// layeh.com/gopher-json and read as {status, message}. An invalid status becomes Unknown, as in
// Argo CD.
//
// Usage: argocd-health -script health.lua < objects.json
//
// stdin holds a JSON array of Kubernetes objects; stdout gets a JSON array with, per object,
// {"status": ..., "message": ...} or {"error": ...}.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	lua "github.com/yuin/gopher-lua"
	luajson "layeh.com/gopher-json"
)

type result struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

var validStatuses = map[string]bool{
	"Unknown": true, "Progressing": true, "Suspended": true, "Healthy": true, "Degraded": true, "Missing": true,
}

func main() {
	scriptPath := flag.String("script", "", "the health.lua to run")
	openLibs := flag.Bool("open-libs", false, "open the Lua standard libraries (resource.customizations.useOpenLibs)")
	flag.Parse()
	if *scriptPath == "" {
		fmt.Fprintln(os.Stderr, "usage: argocd-health -script health.lua < objects.json")
		os.Exit(2)
	}
	script, err := os.ReadFile(*scriptPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	objects, err := decodeObjects(input)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stdin must hold a JSON array of objects:", err)
		os.Exit(2)
	}
	results := make([]result, 0, len(objects))
	for _, obj := range objects {
		status, message, err := health(obj, string(script), *openLibs)
		if err != nil {
			results = append(results, result{Error: err.Error()})
		} else {
			results = append(results, result{Status: status, Message: message})
		}
	}
	out, _ := json.MarshalIndent(results, "", "  ")
	fmt.Println(string(out))
}

// decodeObjects reads numbers as Kubernetes' unstructured JSON does: integers become int64,
// everything else float64.
func decodeObjects(input []byte) ([]map[string]any, error) {
	decoder := json.NewDecoder(bytes.NewReader(input))
	decoder.UseNumber()
	var raw []map[string]any
	if err := decoder.Decode(&raw); err != nil {
		return nil, err
	}
	for i := range raw {
		raw[i] = convertNumbers(raw[i]).(map[string]any)
	}
	return raw, nil
}

func convertNumbers(value any) any {
	switch v := value.(type) {
	case map[string]any:
		for key, item := range v {
			v[key] = convertNumbers(item)
		}
		return v
	case []any:
		for i, item := range v {
			v[i] = convertNumbers(item)
		}
		return v
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n
		}
		f, _ := v.Float64()
		return f
	}
	return value
}

func health(obj map[string]any, script string, openLibs bool) (string, string, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: !openLibs})
	defer l.Close()
	for _, pair := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(pair.open), NRet: 0, Protect: true}, lua.LString(pair.name)); err != nil {
			return "", "", err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", decodeValue(l, obj))
	if err := l.DoString(script); err != nil {
		return "", "", err
	}
	returned := l.Get(-1)
	if returned.Type() != lua.LTTable {
		return "", "", fmt.Errorf("expect table output from Lua script, not %s", returned.Type().String())
	}
	encoded, err := luajson.Encode(returned)
	if err != nil {
		return "", "", err
	}
	var status struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(encoded, &status); err != nil {
		return "", "", err
	}
	if !validStatuses[status.Status] {
		return "Unknown", "Lua returned an invalid health status", nil
	}
	return status.Status, status.Message, nil
}

// decodeValue converts a decoded Kubernetes object to Lua values as Argo CD does.
func decodeValue(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case json.Number:
		return lua.LString(v)
	case int:
		return lua.LNumber(v)
	case int32:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case []any:
		arr := l.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(decodeValue(l, item))
		}
		return arr
	case map[string]any:
		tbl := l.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), decodeValue(l, item))
		}
		return tbl
	}
	return lua.LNil
}
