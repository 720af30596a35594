"""The emulated instruments, by name, answering their socs drivers' other commands.

``tests/interface/test_socs_drivers.py`` polls each driver's main reading; here each
emulation answers the rest of what its driver sends (settings read back,
relays, motion, banners), and :class:`InstrumentDevice`'s own failures
(power cycle, idle close, close on a command, split reply) are checked on
the wire. The drivers run on socs_tcp over the backend under test.
"""

import re
import signal
import socket

import pytest

import socs_tcp.testing
from socs_tcp.cli import main
from socs_tcp.testing import INSTRUMENTS, FakeDevice, InstrumentDevice, instrument
from socs_tcp.testing.instruments.socs_drivers import DRIVERS, load_driver
from tests.cli import first_line
from tests.cli import socs_tcp as socs_tcp_cli
from tests.conftest import BOUND, import_socs, read_exactly

import_socs()


@pytest.fixture
def connect(Interface):
    """``connect(name, **faults) -> (driver, emulation, device)``; all closed after."""
    opened = []

    def make(name, **faults):
        emulation = instrument(name)
        device = emulation.device(**faults)
        cls = load_driver(name, Interface)
        driver = cls(device.host, device.port, 1.0)
        driver.__dict__.setdefault("_com", driver)  # DS378's __del__
        opened.append((driver, device))
        return driver, emulation, device

    yield make
    for driver, device in opened:
        Interface.close(driver)
        device.stop()


def client(device):
    sock = socket.create_connection(device.address, timeout=BOUND)
    device.wait_clients(1)
    return sock


def test_every_socs_driver_has_its_emulation_by_name():
    assert set(INSTRUMENTS) == set(DRIVERS)
    assert socs_tcp.testing.instrument is instrument
    for name, cls in INSTRUMENTS.items():
        emulation = instrument(name, reading=7.0)
        assert isinstance(emulation, cls)
        assert emulation.reading == 7.0
        assert instrument(name).reading == cls.default_reading
        with emulation.device() as device:
            assert isinstance(device, FakeDevice)
            assert device.name == cls.model


def test_an_unknown_instrument_name_lists_the_names():
    with pytest.raises(KeyError, match="cryomech_cpa, pfeiffer_tpg366"):
        instrument("cryomech")


def test_device_options_replace_the_instruments():
    with instrument("galil_axis").device(name="stage", latency=0.01) as device:
        assert device.name == "stage"
        assert device.faults.latency == 0.01


def test_compressor_power_and_identity(connect):
    ptc, emulation, device = connect("cryomech_cpa")
    ptc.power("on")  # a write single register, echoed
    assert emulation.registers.holding[1] == 1
    emulation.values["Helium_Temp"] = 61.5
    flag, data = ptc.get_data()
    assert not flag
    assert data["Helium_Temp"] == 61.5
    assert data["Operating_State"] == 3
    assert (ptc.serial, ptc.model, ptc.software_revision) == (4321, "10_11", "1.2")


def test_gauge_every_channel_and_the_sensors(connect):
    gauge, emulation, _ = connect("pfeiffer_tpg366")
    emulation.reading = 2e-3
    assert gauge.read_pressure_all() == pytest.approx([2e-3 * n for n in range(1, 7)])
    assert gauge.read_pressure(6) == pytest.approx(1.2e-2)
    assert gauge.channel_power() == [1, 2, 3, 4, 5, 6]


def test_gauge_refuses_an_unknown_mnemonic():
    with instrument("pfeiffer_tpg366").device() as device, client(device) as sock:
        sock.sendall(b"XYZ\r\n")
        assert sock.recv(16) == b"\x15\r\n"  # NAK


def test_relay_board_relays_outputs_status_and_counters(connect):
    board, emulation, _ = connect("devantech_ds378")
    assert board.set_relay(3, 1) == 0  # ACK
    assert emulation.relays == 0b100
    assert [int(r) for r in board.get_relays()[:8]] == [0, 0, 1, 0, 0, 0, 0, 0]
    assert board.set_output(2, 1) == 0
    assert [int(i) for i in board.get_inputs()] == [0, 1, 0, 0, 0, 0, 0]
    status = board.get_status()
    assert status["module_id"] == 55
    assert status["V_sppl"] == 12.0
    assert board.get_counters(1) == (7, 3)
    assert board.get_analog() == [512, 100, 200, 300, 400, 500, 600]


def test_ac_source_settings_read_back(connect):
    pcr, emulation, _ = connect("kikusui_pcr500ma")
    assert pcr.get_idn().startswith("KIKUSUI,PCR500MA")
    pcr.turn_on()
    assert pcr.get_output() is True
    pcr.set_volt_ac(20, 10, 30)  # with its limits
    assert pcr.get_volt_ac() == 20.0
    pcr.set_frequency(60, 50, 70)
    assert pcr.get_frequency() == 60.0
    assert pcr.meas_freq() == 60.0
    pcr.set_current_limit_ac(4.5)
    assert pcr.get_current_limit_ac() == 4.5
    assert pcr.get_coupling().value == "AC"
    emulation.reading = 50.0
    assert pcr.meas_current_ac() == 0.5
    assert pcr.meas_power_ac() == 25.0


def test_dc_supply_output_voltage_and_protection(connect):
    pmx, emulation, _ = connect("kikusui_pmx")
    assert pmx.check_output() == ("Measured output state = OFF", 0)
    assert pmx.turn_on() == ("Measured output state = ON", 1)
    assert pmx.set_voltage(5.5)[1] == 5.5
    assert pmx.set_current_limit(1.5)[1] == 1.5
    assert pmx.use_external_voltage()[1] == "volt"
    assert pmx.check_prot() == 0
    assert pmx.check_error()[1] == 0
    emulation.reading = 24.0
    assert pmx.meas_current()[1] == 1.0


def test_motion_controller_reports_and_motion(connect):
    galil, emulation, _ = connect("galil_axis")
    emulation.reading = 2500.0
    data = galil.get_data()
    assert data["A"]["position"] == 2500.0
    assert sorted(data) == ["A", "B", "C", "D"]
    assert galil.begin_motion("A") == (True, "Axis A is in motion.")
    assert float(galil.is_running("B")) == 0


def test_motion_controller_explains_a_bad_command():
    with instrument("galil_axis").device() as device, client(device) as sock:
        sock.sendall(b"\r")
        assert sock.recv(16) == b"?"
        sock.sendall(b"MG _NOPE\r")
        assert sock.recv(16) == b"?"
        sock.sendall(b"TC1\r")
        assert sock.recv(16) == b"0\r\n:"


def test_laser_banner_parameters_and_commands(connect):
    laser, emulation, device = connect("dlc_smart")
    assert laser.get_system_label() == '"DLC smart"'
    assert laser.laser_emission_on() == "0"
    assert laser.check_laser_emission() == "#t"
    assert laser.check_bias() == (0.5, 0.0)
    assert laser.set_bias_to_zero() == b"()\n> "
    assert laser.param_ref("no:such").startswith("Error:")


def test_laser_greets_each_connection():
    with instrument("dlc_smart").device() as device, client(device) as sock:
        assert sock.recv(64) == b"DeCoF Command Line\n> "
        sock.sendall(b"garbage\n")
        assert sock.recv(64).startswith(b"Error: -1")


def test_bridge_channels_and_control_input(connect):
    bridge, emulation, _ = connect("lakeshore372")
    emulation.reading = 2.0
    assert bridge.get_temp(unit="kelvin", chan=3) == 4.0
    assert bridge.get_temp(unit="ohms", chan=1) == 500.0
    assert bridge.channels[2].get_kelvin_reading() == 3.0
    assert bridge.channels[0].get_kelvin_reading() == 2.0  # input A
    assert bridge.id.startswith("LSCI,MODEL372")
    assert len(bridge.channels) == 17


# -- InstrumentDevice's failures, on the wire -----------------------------


def test_power_cycle_resets_old_connections_only_when_they_write():
    with instrument("kikusui_pmx").device() as device, client(device) as old:
        device.power_cycle()
        old.settimeout(0.1)
        with pytest.raises(socket.timeout):  # TimeoutError from 3.10
            old.recv(16)  # nothing was sent: the client cannot tell
        old.settimeout(BOUND)
        old.sendall(b"*IDN?\n")
        with pytest.raises(ConnectionResetError):
            old.recv(16)
        with client(device) as new:
            new.sendall(b"*IDN?\n")
            assert new.recv(64).startswith(b"KIKUSUI,PMX")


def test_drop_connections_keeps_listening():
    with instrument("kikusui_pmx").device() as device, client(device) as old:
        device.drop_connections()
        assert old.recv(16) == b""  # a FIN
        with client(device) as new:
            new.sendall(b"*IDN?\n")
            assert new.recv(64).startswith(b"KIKUSUI")


def test_close_on_next_command_closes_once():
    with instrument("kikusui_pmx").device() as device:
        with client(device) as first:
            device.close_on_next_command("rst")
            first.sendall(b"*IDN?\n")
            with pytest.raises(ConnectionResetError):
                first.recv(16)
        with client(device) as second:
            second.sendall(b"*IDN?\n")
            assert second.recv(64).startswith(b"KIKUSUI")
        assert device.received == [b"*IDN?", b"*IDN?"]


def test_split_next_reply_sends_two_segments_once():
    with instrument("kikusui_pmx").device() as device, client(device) as sock:
        device.split_next_reply(0.2, skip=1)
        sock.sendall(b"VOLT?\n")
        assert sock.recv(64) == b"12.0\n"  # skipped: whole
        sock.sendall(b"VOLT?\nVOLT?\n")
        assert sock.recv(64) == b"12."
        assert read_exactly(sock, 7) == b"0\n12.0\n"  # then whole again


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: d.drop_connections("nope"), "how must be"),
        (lambda d: d.close_on_next_command("nope"), "how must be"),
        (lambda d: d.split_next_reply(-1), "gap and skip"),
    ],
)
def test_bad_arguments_are_refused(call, message):
    with instrument("kikusui_pmx").device() as device:
        assert isinstance(device, InstrumentDevice)
        with pytest.raises(ValueError, match=message):
            call(device)


# -- python -m socs_tcp emulate NAME --------------------------------------


def test_emulate_serves_an_instrument_by_name(Interface):
    proc = socs_tcp_cli("emulate", "lakeshore372")
    try:
        line = first_line(proc)
        found = re.search(
            r"^serving Lakeshore 372 \(emulated lakeshore372\) on "
            r"127\.0\.0\.1:(\d+); Ctrl-C to stop",
            line,
        )
        assert found, line
        bridge = load_driver("lakeshore372", Interface)("127.0.0.1", int(found[1]), 2)
        assert bridge.get_temp(unit="kelvin", chan=1) == 0.1
        Interface.close(bridge)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=BOUND)
        assert proc.returncode == 0
        assert "stopped after 1 connections" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=BOUND)


def test_emulate_lists_the_instruments_for_an_unknown_name(capsys):
    assert main(["emulate", "cryomech"]) == 2
    err = capsys.readouterr().err
    assert "cryomech_cpa" in err and "scpi_gauge" in err
    assert err.count("\n") == 1
