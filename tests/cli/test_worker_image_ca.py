"""Which CA certificates `orchestra worker-image build` passes into the image build: the
machine's, whichever way it keeps them (a TLS-inspecting proxy's CA must reach pip)."""

from __future__ import annotations

from pathlib import Path

from orchestra.cli.worker_image import MAX_CA_BYTES, extra_ca_certs

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_extra_ca_certs_wins(tmp_path: Path) -> None:
    (tmp_path / "a.crt").write_text(PEM.replace("MIIB", "DIR"), encoding="utf-8")
    assert extra_ca_certs({"EXTRA_CA_CERTS": PEM}, ca_dir=tmp_path) == PEM


def test_the_hosts_extra_certificates_folder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "proxy.crt").write_text(PEM, encoding="utf-8")
    bundle = tmp_path / "bundle.pem"
    bundle.write_text("other", encoding="utf-8")
    assert extra_ca_certs({"SSL_CERT_FILE": str(bundle)}, ca_dir=tmp_path) == PEM


def test_a_bundle_named_by_ssl_cert_file_or_pip_cert(tmp_path: Path) -> None:
    """No extra certificates folder (not Debian, say): the bundle the environment names."""
    bundle = tmp_path / "corp.pem"
    bundle.write_text(PEM, encoding="utf-8")
    empty = tmp_path / "none"
    assert extra_ca_certs({"PIP_CERT": str(bundle)}, ca_dir=empty) == PEM
    assert extra_ca_certs({"SSL_CERT_FILE": str(bundle)}, ca_dir=empty) == PEM
    assert extra_ca_certs({}, ca_dir=empty) == ""
    bundle.write_text(PEM * (MAX_CA_BYTES // len(PEM) + 1), encoding="utf-8")
    assert extra_ca_certs({"PIP_CERT": str(bundle)}, ca_dir=empty) == ""
