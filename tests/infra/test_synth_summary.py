from tools.synth_summary import summarise


def test_summary_names_stacks_countries_schedules_resources_and_nag_result(dev_app):
    lines = summarise(dev_app.outdir)
    text = "\n".join(lines)
    assert lines[0] == f"{len(dev_app.stack_names)} stacks; 3 countries: JP, KR, US"
    assert "personalize-dev-kr-daily: cron(0 3 * * ? *) Asia/Seoul" in text
    pipeline = next(line for line in lines if line.startswith("Personalize-dev-Pipeline"))
    count = int(pipeline.split()[1])
    assert count == len(dev_app.template_json("Personalize-dev-Pipeline")["Resources"])
    assert lines[-1].startswith("cdk-nag AwsSolutions: success, 0 unacknowledged finding(s)")
