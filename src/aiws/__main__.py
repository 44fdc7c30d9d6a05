from aiws.cli.main import run

run()
