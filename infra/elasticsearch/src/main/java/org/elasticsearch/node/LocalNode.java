package org.elasticsearch.node;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;

/**
 * A single Elasticsearch node in one plain JVM, started by moodwatch's infra/ for local work.
 *
 * <p>Usage: {@code java -cp <launcher>:<jars>/* org.elasticsearch.node.LocalNode <config>/elasticsearch.yml}.
 * The folder of that file is the node's config folder and must also hold log4j2.properties.
 * The process runs until SIGTERM (or SIGINT); a shutdown hook then closes the node so that
 * Lucene commits and the cluster state are written before the JVM exits.
 */
public final class LocalNode extends Node {

    private static final long CLOSE_TIMEOUT_SECONDS = 30;

    private LocalNode(Environment environment) {
        // true: refuse private index settings from requests, as a production node does.
        super(NodeConstruction.prepareConstruction(environment, new ClasspathNodeServices(), true));
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: LocalNode <path to elasticsearch.yml>");
            System.exit(2);
        }
        // Logging set-up may take over System.out/err; failures must still reach the console log.
        PrintStream console = System.err;
        Path configFile = Path.of(args[0]).toAbsolutePath();
        Settings settings = Settings.builder().loadFromPath(configFile).build();
        Environment environment = new Environment(settings, configFile.getParent());
        // The log pattern's %node_name needs the name before log4j is configured.
        LogConfigurator.setNodeName(NODE_NAME_SETTING.get(settings));
        LogConfigurator.configure(environment, true); // true: keep the console appender

        LocalNode node;
        try {
            node = new LocalNode(environment);
        } catch (Throwable e) {
            e.printStackTrace(console);
            System.exit(1);
            return;
        }
        // Elasticsearch's own threads are daemons: without this latch the JVM would exit as soon
        // as main returns. The shutdown hook releases it after the node is closed.
        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(CLOSE_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace(console);
            } finally {
                closed.countDown();
            }
        }, "local-node-shutdown"));

        try {
            node.start();
        } catch (Throwable e) {
            e.printStackTrace(console);
            System.exit(1); // runs the hook, which closes what was started
        }
        closed.await();
    }
}
