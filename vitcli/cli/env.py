"""`vitcli env`: print what a bug report needs (runtime.environment.collect_environment) as a table or JSON."""

from __future__ import annotations

from vitcli.cli import output
from vitcli.cli.options import Json

HELP = """Show versions, devices, Java, usable extras and offline flags: paste this into a bug report.

Example: vitcli env --json"""


def env_command(as_json: Json = False) -> None:
    from vitcli.runtime.environment import collect_environment

    env = collect_environment()
    if as_json:
        output.emit_json(env.to_json())
        return
    rows: list[tuple[str, object]] = [("vitcli", env.vitcli), ("python", env.python), ("platform", env.platform)]
    rows += list(env.packages.items())
    if "error" in env.torch:
        rows.append(("torch error", env.torch["error"]))
    else:
        built = f"CUDA {env.torch['cuda_version']} build" if env.torch["cuda_version"] else "CPU build"
        cuda = f"available ({built})" if env.torch["cuda_available"] else f"not available ({built})"
        rows += [
            ("CUDA", cuda),
            ("CUDA devices", ", ".join(env.torch["devices"]) or "none"),
            ("MPS", "available" if env.torch["mps_available"] else "not available"),
        ]
    rows.append(("java", env.java))
    rows += [(f"extra: {name}", "usable" if ok else "not usable") for name, ok in env.extras.items()]
    rows += [(name, value if value is not None else "unset") for name, value in env.offline.items()]
    output.print_table("vitcli environment", rows, ("", "value"))
