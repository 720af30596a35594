"""The pytest plugin with strict scripts, long runs and many tests.

Run in a pytest of its own (``pytester``), which gets the plugin from the
``pytest11`` entry point as a user's project would.
"""

pytest_plugins = ["pytester"]


def test_the_fixture_serves_a_script_and_reports_it_at_teardown(pytester):
    pytester.makepyfile(
        """
        import socket

        SCRIPT = [(b"*IDN?", b"ACME,1"), (b"VOLT 5", None), (b"VOLT?", b"5")]

        def talk(dev, *commands):
            with socket.create_connection(dev.address, timeout=2) as sock:
                for command in commands:
                    sock.sendall(command + b"\\n")
                dev.wait_received(len(commands))
                dev.wait_idle()

        def test_follows_the_script(fake_device):
            talk(fake_device(script=SCRIPT), b"*IDN?", b"VOLT 5", b"VOLT?")

        def test_stops_early(fake_device):
            talk(fake_device(script=SCRIPT), b"*IDN?")

        def test_out_of_order(fake_device):
            talk(fake_device(script=SCRIPT), b"*IDN?", b"VOLT?")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_stops_early*",
            "*ScriptError: 2 of 3 script steps never came: b'VOLT 5', b'VOLT?'*",
            "*fake device transcript (teardown)*",
            "*ERROR at teardown of test_out_of_order*",
            "*ScriptError: received b'VOLT?', expected b'VOLT 5' (step 2 of 3)*",
        ]
    )


def test_a_failing_report_shows_the_last_events_and_counts_the_rest(pytester):
    pytester.makepyfile(
        """
        import socket

        def test_many_polls(fake_device):
            dev = fake_device({b"PR1": b"1.2E-3"}, name="gauge")
            with socket.create_connection(dev.address, timeout=2) as sock:
                sock.sendall(b"PR1\\n" * 2000)
                dev.wait_received(2000)
                dev.wait_idle()
            assert False, "the driver gave up"
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    section = out.split("fake device transcript (call)")[1].splitlines()[1:]
    assert section[0].startswith("gauge on 127.0.0.1:")
    assert section[1].startswith("... 3962 earlier events not shown (4002 in all")
    events = [line for line in section if " s  #1 " in line]
    assert len(events) == 40
    assert len(out.splitlines()) < 200


def test_devices_are_let_go_once_their_test_is_reported(pytester):
    pytester.makepyfile(
        """
        import gc
        import weakref

        import pytest

        from socs_tcp.testing import FakeDevice

        GONE = []

        @pytest.mark.parametrize("n", range(3))
        def test_start(fake_device, n):
            GONE.append(weakref.ref(fake_device({b"N?": b"1"})))
            with FakeDevice({b"N?": b"1"}) as own:
                GONE.append(weakref.ref(own))

        def test_released():
            gc.collect()
            assert len(GONE) == 6
            assert [ref() for ref in GONE] == [None] * 6
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
