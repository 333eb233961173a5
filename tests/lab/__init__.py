"""Real-host test lab for pulumi_kk: a private Docker daemon, SSH-reachable systemd hosts (containers), offline
artifacts in KubeKey's binary_dir layout, and a replay executor that runs pulumi-command resources for real.

See tests/lab/README.md. The package is importable as ``lab`` (pytest puts ``tests/`` on sys.path).
"""
