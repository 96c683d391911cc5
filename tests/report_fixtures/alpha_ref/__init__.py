"""Reference data of the fixture study rfx-alpha (reference.csv here): one row for every judgement."""
