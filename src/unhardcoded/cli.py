"""The `unhardcoded` command: thin — parse arguments, build the same objects as the server, print."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
import yaml
from rich.console import Console

from unhardcoded.cli_adopt import register as register_adopt_commands
from unhardcoded.cli_finance import register as register_finance_commands
from unhardcoded.cli_keys import register as register_keys_commands
from unhardcoded.cli_report import register as register_report_commands
from unhardcoded.cli_review import register as register_review_commands
from unhardcoded.cli_verify import register as register_verify_commands
from unhardcoded.config import load_settings
from unhardcoded.errors import ConfigError, PolicyError, RequestError, UserError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="A runtime LLM policy layer: route each call by its policy, and write a receipt that says why.",
)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="unhardcoded.yaml (else $UNHARDCODED_CONFIG)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def _load_doc(value: str, what: str) -> Any:
    """A JSON or YAML document given inline or as a file path."""
    text = value
    p = Path(value)
    if not value.lstrip().startswith(("{", "[")) and p.exists():
        text = p.read_text()
    try:
        return yaml.safe_load(text) if not text.lstrip().startswith(("{", "[")) else json.loads(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise PolicyError(f"{what}: not valid JSON or YAML: {e}") from None


def _fail(e: UserError, code: int) -> None:
    Console(stderr=True).print(f"[red]error:[/red] {e.message}", highlight=False)
    raise typer.Exit(code)


@app.command()
def rank(
    policy: Annotated[
        str, typer.Option("--policy", help="a policy: a JSON/YAML file, inline JSON, or a name")
    ],
    request: Annotated[
        str | None, typer.Option("--request", help="a chat-completions body (file or JSON)")
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    brief: Annotated[
        bool, typer.Option("--brief", help="only the summary, not every rejected deployment")
    ] = False,
) -> None:
    """Dry run: decide which deployment a call would go to, and why every other one lost. No inference."""
    from unhardcoded.cli_render import make_console, render_decision
    from unhardcoded.gateway.policies import Policies

    try:
        settings = load_settings(config)
        policies = Policies(settings)
        body: dict[str, Any] = {"model": "auto", "messages": [{"role": "user", "content": "Hello"}]}
        if request is not None:
            doc = _load_doc(request, "--request")
            if not isinstance(doc, dict):
                raise RequestError("--request: expected a chat-completions JSON object")
            body = doc
        if policy in policies.configured:
            pol = policies.named(policy)
        else:
            pol = policies.parse(_load_doc(policy, "--policy"))
        decision = policies.decide(pol, policies.features(body))
    except PolicyError as e:
        _fail(e, 2)
        return
    except (ConfigError, RequestError) as e:
        _fail(e, 1)
        return
    if as_json:
        sys.stdout.write(orjson.dumps(decision.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        render_decision(make_console(), decision, brief=brief)
    raise typer.Exit(0 if decision.plan else 3)


@app.command()
def fields(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Every catalog field: type, unit, description, source and the ops it takes."""
    from unhardcoded.cli_render import make_console, render_fields
    from unhardcoded.gateway.policies import Policies

    policies = Policies(load_settings(config))
    items = [f.to_dict() for f in policies.catalog.fields]
    if as_json:
        sys.stdout.write(orjson.dumps(items, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        render_fields(make_console(), items)


@app.command()
def catalog(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """The effective catalog (bundled + overlay) and its catalog_version."""
    from unhardcoded.cli_render import make_console, render_catalog
    from unhardcoded.gateway.policies import Policies

    policies = Policies(load_settings(config))
    if as_json:
        sys.stdout.write(orjson.dumps(policies.catalog.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        render_catalog(make_console(), policies.catalog)


@app.command()
def schema(what: Annotated[str, typer.Argument(help="policy | receipt")] = "policy") -> None:
    """Print a JSON Schema: `policy` (sigma-pol/v1) or `receipt`."""
    if what == "policy":
        from unhardcoded.policy.schema import policy_schema

        doc = policy_schema()
    elif what == "receipt":
        from unhardcoded.gateway.receipt_schema import receipt_schema

        doc = receipt_schema()
    else:
        Console(stderr=True).print(f"[red]error:[/red] unknown schema {what!r}; valid: policy, receipt")
        raise typer.Exit(2)
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")


@app.command()
def serve(
    config: ConfigOpt = None,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8700,
    workers: Annotated[int, typer.Option(help="processes sharing the port (SO_REUSEPORT)")] = 1,
) -> None:
    """Start the gateway: OpenAI-compatible /v1/chat/completions plus the /x/ endpoints."""
    from unhardcoded.http.server import serve as run_server

    try:
        run_server(config, host=host, port=port, workers=workers)
    except UserError as e:
        _fail(e, 1)


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="gateway port for the demo")] = 8787,
    keep: Annotated[bool, typer.Option(help="keep the gateway running after the scripted calls")] = False,
) -> None:
    """See the whole flow with no keys, no network: a simulated upstream, scripted calls, receipts."""
    from unhardcoded.demo import run_demo

    raise typer.Exit(run_demo(port=port, keep=keep))


register_review_commands(app)
register_keys_commands(app)
register_finance_commands(app)
register_adopt_commands(app)
register_report_commands(app)
register_verify_commands(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
