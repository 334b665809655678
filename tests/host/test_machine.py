"""tfseqrec.host.machine: the CPU model every benchmark record carries."""

from tfseqrec.host import machine


def test_cpu_model_is_the_first_model_name_of_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\n\n"
        "processor\t: 1\nmodel name\t: Other CPU\n"
    )
    assert machine.cpu_model(cpuinfo) == "Intel(R) Xeon(R) Processor"


def test_cpu_model_falls_back_without_cpuinfo(tmp_path, monkeypatch):
    monkeypatch.setattr(machine.platform, "processor", lambda: "arm")
    assert machine.cpu_model(tmp_path / "absent") == "arm"
    (tmp_path / "empty").write_text("processor\t: 0\n")
    monkeypatch.setattr(machine.platform, "processor", lambda: "")
    assert machine.cpu_model(tmp_path / "empty") is None


def test_describe_names_platform_python_cpus_and_model():
    described = machine.describe()
    assert set(described) == {"platform", "python", "cpus", "cpu_model"} and described["cpus"] >= 1
