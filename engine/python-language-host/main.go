// pulumi-language-python for the fleet engine: a compact Python language host built on the Pulumi Go SDK of
// the same version as the CLI. Built by scripts/engine.sh because the Go module proxy reachable here serves
// no version of github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3.
//
// It supports what the project uses: running programs (through pulumi-language-python-exec, beside this
// binary) in the virtualenv named by runtime.options.virtualenv (pip toolchain), listing the plugins of the
// installed Pulumi packages, installing dependencies (venv + pip install -r requirements.txt), and running
// Python policy packs (python -m pulumi.policy) in their own virtualenv.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Exit code with which pulumi-language-python-exec reports an error it has already shown to the user.
const userActionableExitCode = 32

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engineAddress string
	executor      string
}

func main() {
	// Flags older CLIs passed; accepted and ignored (options arrive in ProgramInfo).
	flag.String("tracing", "", "ignored")
	flag.String("virtualenv", "", "ignored")
	flag.String("root", "", "ignored")
	flag.String("toolchain", "", "ignored")
	flag.String("typechecker", "", "ignored")
	executor := flag.String("use-executor", "", "the pulumi-language-python-exec script to use")
	flag.Parse()

	if *executor == "" {
		self, err := os.Executable()
		if err != nil {
			cmdutil.Exit(fmt.Errorf("could not determine current executable: %w", err))
		}
		*executor = filepath.Join(filepath.Dir(self), "pulumi-language-python-exec")
	}
	if _, err := os.Stat(*executor); err != nil {
		cmdutil.Exit(fmt.Errorf("missing executor %s: %w", *executor, err))
	}

	var engineAddress string
	if args := flag.Args(); len(args) > 0 {
		engineAddress = args[0]
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancelChannel := make(chan bool)
	go func() {
		<-ctx.Done()
		close(cancelChannel)
	}()
	if engineAddress != "" {
		if err := rpcutil.Healthcheck(ctx, engineAddress, 5*time.Minute, cancel); err != nil {
			cmdutil.Exit(fmt.Errorf("could not start health check host RPC server: %w", err))
		}
	}

	h := &host{engineAddress: engineAddress, executor: *executor}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancelChannel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
	})
	if err != nil {
		cmdutil.Exit(fmt.Errorf("could not start language host RPC server: %w", err))
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		cmdutil.Exit(fmt.Errorf("language host RPC stopped serving: %w", err))
	}
}

// pyenv is the Python interpreter for one program or plugin, and its virtualenv (empty if none).
type pyenv struct {
	python     string
	virtualenv string
}

func option(info *pulumirpc.ProgramInfo, name string) string {
	if info == nil || info.GetOptions() == nil {
		return ""
	}
	if v, ok := info.GetOptions().GetFields()[name]; ok {
		return v.GetStringValue()
	}
	return ""
}

func resolvePython(info *pulumirpc.ProgramInfo) (pyenv, error) {
	if tc := option(info, "toolchain"); tc != "" && tc != "pip" {
		return pyenv{}, fmt.Errorf("runtime option toolchain: %s is not supported by this language host (only pip)", tc)
	}
	if venv := option(info, "virtualenv"); venv != "" {
		if !filepath.IsAbs(venv) {
			venv = filepath.Join(info.GetRootDirectory(), venv)
		}
		return pyenv{python: filepath.Join(venv, "bin", "python"), virtualenv: venv}, nil
	}
	for _, name := range []string{os.Getenv("PULUMI_PYTHON_CMD"), "python3", "python"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return pyenv{python: p}, nil
		}
	}
	return pyenv{}, errors.New("no python3 or python on PATH (or set PULUMI_PYTHON_CMD)")
}

func (p pyenv) exists() bool {
	_, err := os.Stat(p.python)
	return err == nil
}

func (p pyenv) missingError() error {
	return fmt.Errorf("the virtualenv %q (runtime option virtualenv) does not exist or has no bin/python; "+
		"run `pulumi install` or create it with python3 -m venv and pip install -r requirements.txt", p.virtualenv)
}

// environ activates the virtualenv (if any) in env.
func (p pyenv) environ(env []string) []string {
	if p.virtualenv == "" {
		return env
	}
	out := make([]string, 0, len(env)+2)
	path := ""
	for _, kv := range env {
		switch {
		case strings.HasPrefix(kv, "PATH="):
			path = strings.TrimPrefix(kv, "PATH=")
		case strings.HasPrefix(kv, "PYTHONHOME="), strings.HasPrefix(kv, "VIRTUAL_ENV="):
		default:
			out = append(out, kv)
		}
	}
	bin := filepath.Join(p.virtualenv, "bin")
	if path != "" {
		bin += string(os.PathListSeparator) + path
	}
	return append(out, "PATH="+bin, "VIRTUAL_ENV="+p.virtualenv)
}

func (p pyenv) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, p.python, args...)
	cmd.Env = p.environ(os.Environ())
	return cmd
}

// ensure creates a missing virtualenv and installs requirements.txt into it (like `pulumi install`).
func (p pyenv) ensure(ctx context.Context, info *pulumirpc.ProgramInfo, stdout, stderr io.Writer, always bool) error {
	if p.virtualenv == "" {
		return nil
	}
	created := false
	if !p.exists() {
		base, err := resolvePython(&pulumirpc.ProgramInfo{})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Creating virtual environment %s\n", p.virtualenv)
		cmd := exec.CommandContext(ctx, base.python, "-m", "venv", p.virtualenv)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("creating virtualenv %s: %w", p.virtualenv, err)
		}
		created = true
	}
	if !created && !always {
		return nil
	}
	for _, dir := range []string{info.GetProgramDirectory(), info.GetRootDirectory()} {
		req := filepath.Join(dir, "requirements.txt")
		if dir == "" {
			continue
		}
		if _, err := os.Stat(req); err != nil {
			continue
		}
		fmt.Fprintf(stdout, "Installing dependencies from %s\n", req)
		cmd := p.command(ctx, "-m", "pip", "install", "-r", req)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("pip install -r %s: %w", req, err)
		}
		break
	}
	return nil
}

const listPluginsPy = `
import importlib.metadata as md, json, re
out, seen = [], set()
for d in md.distributions():
    for f in d.files or []:
        if f.name != "pulumi-plugin.json":
            continue
        try:
            j = json.load(open(f.locate(), encoding="utf-8"))
        except Exception:
            continue
        if not j.get("resource"):
            continue
        dist = d.metadata["Name"] or ""
        name = j.get("name") or re.sub(r"^pulumi[-_]", "", dist.lower()).replace("_", "-")
        key = (name, j.get("version") or d.version)
        if key in seen:
            continue
        seen.add(key)
        out.append({"name": name, "version": key[1], "server": j.get("server") or ""})
print(json.dumps(out))
`

func (h *host) GetRequiredPackages(ctx context.Context,
	req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	p, err := resolvePython(req.GetInfo())
	if err != nil {
		return nil, err
	}
	if err := p.ensure(ctx, req.GetInfo(), os.Stderr, os.Stderr, false); err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	cmd := p.command(ctx, "-c", listPluginsPy)
	cmd.Dir = req.GetInfo().GetProgramDirectory()
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("listing the installed Pulumi packages with %s: %w: %s", p.python, err, stderr.String())
	}
	var found []struct{ Name, Version, Server string }
	if err := json.Unmarshal(stdout.Bytes(), &found); err != nil {
		return nil, fmt.Errorf("parsing the installed Pulumi packages: %w", err)
	}
	resp := &pulumirpc.GetRequiredPackagesResponse{}
	for _, f := range found {
		v := f.Version
		if v != "" && !strings.HasPrefix(v, "v") {
			v = "v" + v
		}
		resp.Packages = append(resp.Packages, &pulumirpc.PackageDependency{
			Name: f.Name, Kind: "resource", Version: v, Server: f.Server,
		})
	}
	return resp, nil
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	p, err := resolvePython(req.GetInfo())
	if err != nil {
		return nil, err
	}
	if p.virtualenv != "" && !p.exists() {
		return nil, p.missingError()
	}
	args := []string{"-u", h.executor}
	add := func(k, v string) {
		if v != "" {
			args = append(args, "--"+k, v)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", h.engineAddress)
	add("project", req.GetProject())
	add("root_directory", req.GetInfo().GetRootDirectory())
	add("stack", req.GetStack())
	add("pwd", req.GetPwd())
	add("dry_run", fmt.Sprint(req.GetDryRun()))
	add("parallel", fmt.Sprint(req.GetParallel()))
	add("organization", req.GetOrganization())
	program := req.GetProgram() //nolint:staticcheck // still filled in by the CLI
	if program == "" {
		program = req.GetInfo().GetEntryPoint()
	}
	if program == "" {
		program = "."
	}
	args = append(args, program)
	args = append(args, req.GetArgs()...)

	cmd := p.command(ctx, args...)
	configMap := req.GetConfig()
	if configMap == nil {
		configMap = map[string]string{}
	}
	config, err := json.Marshal(configMap)
	if err != nil {
		return nil, err
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	keys, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, err
	}
	cmd.Env = append(cmd.Env, "PULUMI_CONFIG="+string(config), "PULUMI_CONFIG_SECRET_KEYS="+string(keys))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		_ = os.Stdout.Sync()
		_ = os.Stderr.Sync()
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if exitErr.ExitCode() == userActionableExitCode {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("program exited with non-zero exit code: %d", exitErr.ExitCode())}, nil
		}
		return &pulumirpc.RunResponse{
			Error: fmt.Sprintf("problem executing program (could not run language executor): %v", err),
		}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

func (h *host) RunPlugin(req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer) error {
	p, err := resolvePython(req.GetInfo())
	if err != nil {
		return err
	}
	if p.virtualenv != "" && !p.exists() {
		return p.missingError()
	}
	dir := req.GetInfo().GetProgramDirectory()
	if dir == "" {
		dir = req.GetProgram() //nolint:staticcheck // older CLIs
	}
	var args []string
	if req.GetKind() == "analyzer" {
		// A policy pack: pulumi.policy's __main__ takes the engine address and the pack directory.
		args = append([]string{"-u", "-m", "pulumi.policy"}, req.GetArgs()...)
		args = append(args, dir)
	} else {
		args = append([]string{"-u", dir}, req.GetArgs()...)
	}
	cmd := exec.CommandContext(server.Context(), p.python, args...)
	cmd.Env = p.environ(req.GetEnv())
	cmd.Dir = req.GetPwd()
	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return server.Send(&pulumirpc.RunPluginResponse{
				Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(exitErr.ExitCode())},
			})
		}
		return fmt.Errorf("problem executing plugin program: %w", err)
	}
	return closer.Close()
}

func (h *host) InstallDependencies(req *pulumirpc.InstallDependenciesRequest,
	server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	p, err := resolvePython(req.GetInfo())
	if err != nil {
		return err
	}
	closer, stdout, stderr, err := rpcutil.MakeInstallDependenciesStreams(server, req.GetIsTerminal())
	if err != nil {
		return err
	}
	defer closer.Close()
	if err := p.ensure(server.Context(), req.GetInfo(), stdout, stderr, true); err != nil {
		return err
	}
	return closer.Close()
}

func (h *host) GetPluginInfo(ctx context.Context, req *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

func (h *host) Handshake(ctx context.Context,
	req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) RuntimeOptionsPrompts(ctx context.Context,
	req *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	p, err := resolvePython(req.GetInfo())
	if err != nil {
		return nil, err
	}
	out, err := p.command(ctx, "--version").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s --version: %w", p.python, err)
	}
	return &pulumirpc.AboutResponse{
		Executable: p.python,
		Version:    strings.TrimPrefix(strings.TrimSpace(string(out)), "Python "),
	}, nil
}

func (h *host) GetProgramDependencies(ctx context.Context,
	req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	p, err := resolvePython(req.GetInfo())
	if err != nil {
		return nil, err
	}
	out, err := p.command(ctx, "-m", "pip", "list", "--format", "json", "--disable-pip-version-check").Output()
	if err != nil {
		return nil, fmt.Errorf("pip list: %w", err)
	}
	var pkgs []struct{ Name, Version string }
	if err := json.Unmarshal(out, &pkgs); err != nil {
		return nil, fmt.Errorf("parsing pip list: %w", err)
	}
	resp := &pulumirpc.GetProgramDependenciesResponse{}
	for _, pkg := range pkgs {
		resp.Dependencies = append(resp.Dependencies, &pulumirpc.DependencyInfo{Name: pkg.Name, Version: pkg.Version})
	}
	return resp, nil
}
